/**
 * Cluster mode: several server nodes share documents through Redis (`--redis-url`). The store is
 * the Redis one (persistence/redis.ts); this is the relay between the nodes' rooms.
 *
 * Updates. The store's append script adds each update to the document's stream and, in the same
 * atomic step, publishes it on the document's channel with the id of the entry before it. A node
 * subscribes to the channels of the rooms it holds (only those), so an update crosses Redis once
 * per node that holds its room, whatever the number of clients there, and reaches a node only
 * once Redis has run the script (with `appendfsync always`, once it is in the AOF: Redis writes
 * the AOF before it sends replies and published messages). A node applies another node's entry
 * to its room, which relays it to its clients at once (it is stored already) and stores nothing.
 * Pub/Sub is at most once: an entry whose previous id is not the last one applied shows a gap
 * (a message lost in a reconnection), and the node then reads the stream from that id (the
 * compacted state too, if another node compacted past it) before it goes on. After a
 * reconnection every room catches up that way.
 *
 * A room is subscribed to before its document is read from the store, and what arrives meanwhile
 * is applied once it exists (entries the read already had are skipped by id), before any client
 * joins: so its clients' sync step 1 is answered with everything stored and in flight.
 *
 * Every entry id a room holds is handed to the store (`markIncluded`) so that any node's
 * compaction trims exactly what was applied everywhere it matters (see redis-position.ts).
 *
 * Awareness. A node publishes the coalesced awareness changes of its own connections on the same
 * channel; the others keep those states as the publishing node's (a `Peer`). A node that joins a
 * room asks the others for their states. Each node refreshes a heartbeat key with an expiry every
 * `heartbeatMs`; when another node's key is gone (it died, or lost Redis), its states are removed
 * from every room here: within `heartbeatMs * HEARTBEAT_TTL_BEATS` of its last heartbeat plus one
 * check (4 s by default) and an awareness flush.
 *
 * Messages on a document's channel: `u<id> <prev> <node>\n<update>` (from the scripts),
 * `d<node>` (the document was deleted, from the script), `a<node>\n<awareness frame>`,
 * `q<node>` (send me your states).
 */
import type { Logger } from 'pino'
import type { RedisDocStore } from '../persistence/redis.js'
import { createRedisClient, type RedisClient } from '../persistence/redis-client.js'
import { compareIds, docKeys, ID_ZERO, nodeKey } from '../persistence/redis-keys.js'
import { StoreError } from '../persistence/store.js'
import type { Stats } from './metrics.js'
import { Peer } from './presence.js'
import { decodeMessage } from './protocol.js'
import type { Relay, Room } from './room.js'

export interface ClusterOptions {
  readonly store: RedisDocStore
  readonly log: Logger
  readonly stats: Stats
  /** Another node deleted the document `name`: close its connections here. */
  readonly onDeleted: (name: string) => void
  /** How often this node refreshes its heartbeat and checks the others', in ms. Default 1000. */
  readonly heartbeatMs?: number
  /** `--fsync`: warn unless Redis syncs every write (`appendfsync always`). */
  readonly fsync: boolean
}

/** A node whose heartbeat is this many beats old is taken for dead. */
export const HEARTBEAT_TTL_BEATS = 3
/** Entries read per catch-up step. */
const READ_LIMIT = 500
/** Wait before a failed catch-up is tried again, in ms. */
const CATCH_UP_RETRY_MS = 1000

const U = 0x75 // 'u'
const D = 0x64 // 'd'
const A = 0x61 // 'a'
const Q = 0x71 // 'q'

interface Entry {
  readonly id: string
  readonly prev: string
  readonly node: string
  readonly update: Uint8Array
}

/** A room this node holds, as the relay follows it. */
interface Followed {
  readonly name: string
  readonly channel: string
  /** null until the store's read made the room. */
  room: Room | null
  /** Every entry up to this id is in the room's document. */
  seen: string
  /** The last id handed to the store's markIncluded(). */
  marked: string
  /** Entries heard before the room existed, or during a catch-up, in order. */
  readonly queue: Entry[]
  catchingUp: boolean
  /** A gap was seen during a catch-up: read again once it is done. */
  again: boolean
  closed: boolean
}

/** Connects the relay's own two Redis connections (Pub/Sub, and publishing with heartbeats). */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const { settings } = options.store
  const log = options.log
  const clients = [createRedisClient(settings), createRedisClient(settings)] as const
  for (const client of clients) {
    client.on('error', (error: Error) => log.debug({ err: error }, 'cluster connection error'))
  }
  try {
    await Promise.all(clients.map((client) => client.connect()))
  } catch (cause) {
    for (const client of clients) client.destroy()
    throw new StoreError('TANDEM_ERR_STORE_OPEN', `cannot connect the cluster relay to Redis: ${cause}`, {
      cause,
    })
  }
  await checkDurability(clients[1], options)
  const cluster = new Cluster(clients[0], clients[1], options)
  await cluster.beat()
  return cluster
}

/**
 * Warns when Redis may lose what it acknowledged: no append-only file (a restart loses the
 * writes since the last snapshot), or with `fsync`, an AOF not synced on every write. Silent
 * when CONFIG is not allowed (managed Redis): then it is the operator's to check.
 */
async function checkDurability(client: RedisClient, options: ClusterOptions): Promise<void> {
  let config: Map<string, string>
  try {
    const reply = await client.sendCommand<Buffer[]>(['CONFIG', 'GET', 'appendonly', 'appendfsync'])
    config = new Map()
    for (let i = 0; i + 1 < reply.length; i += 2) config.set(String(reply[i]), String(reply[i + 1]))
  } catch {
    return
  }
  if (config.get('appendonly') === 'no') {
    options.log.warn(
      'Redis runs with appendonly no: updates it acknowledged are lost if it restarts (set appendonly yes)',
    )
  } else if (options.fsync && config.has('appendfsync') && config.get('appendfsync') !== 'always') {
    options.log.warn(
      { appendfsync: config.get('appendfsync') },
      '--fsync: Redis does not sync every write (set appendfsync always for power-loss durability)',
    )
  }
}

export class Cluster implements Relay {
  readonly nodeId: string
  private readonly followed = new Map<string, Followed>()
  private readonly byChannel = new Map<string, Followed>()
  private readonly peers = new Map<string, Peer>()
  private readonly heartbeatMs: number
  private readonly heartbeat: NodeJS.Timeout
  private readonly store: RedisDocStore
  private readonly log: Logger
  private checking = false
  private closed = false
  /** Rooms whose applied entries are to be handed to the store, once per turn. */
  private readonly marks = new Set<Followed>()
  private marking: NodeJS.Immediate | null = null

  constructor(
    /** Subscribed to the channels of the rooms held here. */
    private readonly sub: RedisClient,
    /** Publishes awareness, refreshes heartbeats. */
    private readonly pub: RedisClient,
    private readonly options: ClusterOptions,
  ) {
    this.store = options.store
    this.log = options.log
    this.nodeId = this.store.nodeId
    this.heartbeatMs = options.heartbeatMs ?? 1000
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs)
    this.heartbeat.unref()
    // node-redis subscribes again by itself after a reconnection; what was published meanwhile
    // was lost: every room catches up from the stream.
    let connected = true
    sub.on('end', () => {
      connected = false
    })
    sub.on('error', () => {
      connected = false
    })
    sub.on('ready', () => {
      if (connected) return
      connected = true
      for (const followed of this.followed.values()) this.resume(followed)
    })
  }

  /** Whether this node is connected to Redis (store and relay), and why not. */
  status(): { readonly ok: boolean; readonly reason?: string } {
    if (!this.store.connected) return { ok: false, reason: 'Redis unreachable: the store cannot write' }
    if (!this.sub.isReady || !this.pub.isReady)
      return { ok: false, reason: 'Redis unreachable: updates from other nodes are not heard' }
    return { ok: true }
  }

  async open(name: string): Promise<void> {
    const { channel } = docKeys(this.store.settings.namespace, name)
    const followed: Followed = {
      name,
      channel,
      room: null,
      seen: ID_ZERO,
      marked: ID_ZERO,
      queue: [],
      catchingUp: false,
      again: false,
      closed: false,
    }
    this.followed.set(name, followed)
    this.byChannel.set(channel, followed)
    const timeoutMs = this.store.settings.commandTimeoutMs
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.sub.subscribe(channel, this.onMessage, true),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
    } catch (cause) {
      throw new StoreError(
        'TANDEM_ERR_STORE_READ',
        `cannot follow ${JSON.stringify(name)} on Redis: ${(cause as Error).message}`,
        { cause },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  attach(room: Room): void {
    const followed = this.followed.get(room.name)
    if (!followed) return
    followed.room = room
    // What the store's read included: entries up to it are in the document.
    followed.seen = this.store.includedId(room.name) ?? ID_ZERO
    followed.marked = followed.seen
    this.drain(followed)
    this.publish(followed.channel, `q${this.nodeId}`)
  }

  close(name: string): void {
    const followed = this.followed.get(name)
    if (!followed) return
    followed.closed = true
    this.followed.delete(name)
    this.byChannel.delete(followed.channel)
    this.sub.unsubscribe(followed.channel, this.onMessage, true).catch(() => undefined)
    this.store.forget(name)
  }

  publishAwareness(name: string, frame: Uint8Array): void {
    const followed = this.followed.get(name)
    if (followed) this.publish(followed.channel, `a${this.nodeId}\n`, frame)
  }

  /**
   * Stops the heartbeat (its key is removed: the other nodes drop this node's states at their next
   * check) and closes the relay's connections. After the rooms are unloaded.
   */
  async stop(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    if (this.pub.isReady) {
      await this.pub
        .sendCommand(['DEL', nodeKey(this.store.settings.namespace, this.nodeId)])
        .catch(() => undefined)
    }
    for (const client of [this.sub, this.pub]) {
      if (client.isReady) await client.close().catch(() => client.destroy())
      else client.destroy()
    }
  }

  /** Refreshes this node's heartbeat, then drops the awareness of nodes whose heartbeat expired. */
  async beat(): Promise<void> {
    if (this.closed || !this.pub.isReady) return
    const { namespace } = this.store.settings
    const ttl = String(this.heartbeatMs * HEARTBEAT_TTL_BEATS)
    await this.pub
      .sendCommand(['SET', nodeKey(namespace, this.nodeId), '1', 'PX', ttl])
      .catch(() => undefined)
    if (this.checking || this.peers.size === 0) return
    this.checking = true
    try {
      const peers = [...this.peers.values()]
      const alive = await Promise.all(
        peers.map((peer) => this.pub.sendCommand<number>(['EXISTS', nodeKey(namespace, peer.node)])),
      )
      peers.forEach((peer, i) => {
        if (alive[i] !== 0) return
        this.log.info({ node: peer.node }, 'node gone: its clients’ awareness removed')
        this.peers.delete(peer.node)
        for (const followed of this.followed.values()) followed.room?.presence.dropPeer(peer)
      })
    } catch {
      // Redis unreachable: nothing is known of the others; check again next beat.
    } finally {
      this.checking = false
    }
  }

  private readonly onMessage = (message: Buffer, channel: Buffer): void => {
    const followed = this.byChannel.get(channel.toString())
    if (!followed) return
    const { stats } = this.options
    stats.clusterMessagesIn++
    stats.clusterBytesIn += message.byteLength
    try {
      switch (message[0]) {
        case U:
          this.hear(followed, parseEntry(message))
          return
        case A: {
          const newline = message.indexOf(10)
          const node = message.toString('latin1', 1, newline)
          if (node === this.nodeId || !followed.room) return
          const decoded = decodeMessage(message.subarray(newline + 1))
          if (decoded.kind === 'awareness')
            followed.room.presence.applyRemote(this.peer(node), decoded.update)
          return
        }
        case Q: {
          if (message.toString('latin1', 1) === this.nodeId || !followed.room) return
          const states = followed.room.presence.localStates()
          if (states) this.publish(followed.channel, `a${this.nodeId}\n`, states)
          return
        }
        case D:
          if (message.toString('latin1', 1) !== this.nodeId) this.options.onDeleted(followed.name)
          return
      }
    } catch (error) {
      stats.countError('TANDEM_ERR_CLUSTER_MESSAGE')
      this.log.error({ room: followed.name, err: error }, 'unusable message from another node ignored')
    }
  }

  private hear(followed: Followed, entry: Entry): void {
    if (followed.room === null || followed.catchingUp) {
      followed.queue.push(entry)
      return
    }
    this.take(followed, entry)
  }

  /** Applies `entry` unless the room has it; on a gap, queues it and catches up. */
  private take(followed: Followed, entry: Entry): void {
    if (compareIds(entry.id, followed.seen) <= 0) return
    if (compareIds(entry.prev, followed.seen) > 0) {
      followed.queue.push(entry)
      void this.catchUp(followed)
      return
    }
    if (entry.node !== this.nodeId) this.applyTo(followed, entry.update)
    followed.seen = entry.id
    this.markIncluded(followed)
  }

  /** Applies what was queued, in order (stops at a gap: the catch-up drains the rest). */
  private drain(followed: Followed): void {
    while (followed.queue.length > 0 && !followed.catchingUp && !followed.closed) {
      this.take(followed, followed.queue.shift() as Entry)
    }
  }

  /** After a reconnection: reads what was missed, and exchanges awareness again. */
  private resume(followed: Followed): void {
    if (!followed.room) return
    void this.catchUp(followed)
    this.publish(followed.channel, `q${this.nodeId}`)
    const states = followed.room.presence.localStates()
    if (states) this.publish(followed.channel, `a${this.nodeId}\n`, states)
  }

  /** Reads the stream after the last entry applied, until it is read to its end. */
  private async catchUp(followed: Followed): Promise<void> {
    if (followed.catchingUp) {
      followed.again = true
      return
    }
    followed.catchingUp = true
    this.options.stats.clusterCatchUps++
    let failed = false
    try {
      do {
        followed.again = false
        for (;;) {
          const read = await this.store.readSince(followed.name, followed.seen, READ_LIMIT)
          if (followed.closed) return
          if (read.state) this.applyTo(followed, read.state)
          for (const entry of read.entries)
            if (entry.node !== this.nodeId) this.applyTo(followed, entry.update)
          if (compareIds(read.lastId, followed.seen) > 0) followed.seen = read.lastId
          if (!read.more) break
        }
      } while (followed.again)
    } catch (error) {
      failed = true
      this.log.warn({ room: followed.name, err: error }, 'catching up with other nodes failed; retrying')
    } finally {
      followed.catchingUp = false
    }
    this.markIncluded(followed)
    if (failed) {
      setTimeout(() => {
        if (!followed.closed) void this.catchUp(followed)
      }, CATCH_UP_RETRY_MS).unref()
      return
    }
    this.drain(followed)
  }

  private applyTo(followed: Followed, update: Uint8Array): void {
    try {
      followed.room?.applyStored(update)
    } catch (error) {
      this.options.stats.countError('TANDEM_ERR_CLUSTER_MESSAGE')
      this.log.error({ room: followed.name, err: error }, 'unusable update in the document log ignored')
    }
  }

  /** Hands the room's last applied id to the store, at the end of the turn (once for many entries). */
  private markIncluded(followed: Followed): void {
    this.marks.add(followed)
    this.marking ??= setImmediate(() => {
      this.marking = null
      for (const marked of this.marks) {
        if (marked.closed || compareIds(marked.seen, marked.marked) <= 0) continue
        marked.marked = marked.seen
        this.store.markIncluded(marked.name, marked.seen)
      }
      this.marks.clear()
    })
  }

  private peer(node: string): Peer {
    let peer = this.peers.get(node)
    if (!peer) {
      peer = new Peer(node)
      this.peers.set(node, peer)
    }
    return peer
  }

  private publish(channel: string, head: string, body?: Uint8Array): void {
    if (this.closed) return
    const message = body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1')
    this.pub.sendCommand(['PUBLISH', channel, message]).catch((error: unknown) => {
      this.log.debug({ err: error }, 'publishing to other nodes failed')
    })
  }
}

/** `u<id> <prev> <node>\n<update>` → its parts. */
function parseEntry(message: Buffer): Entry {
  const newline = message.indexOf(10)
  const [id, prev, node] = message.toString('latin1', 1, newline).split(' ')
  if (newline < 0 || !id || !prev || !node) throw new Error('malformed entry message')
  return { id, prev, node, update: message.subarray(newline + 1) }
}
