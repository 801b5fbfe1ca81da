import { outdatedTimeout } from 'y-protocols/awareness'
import type { Connection } from './connection.js'
import { CloseCode, ConnectionError } from './errors.js'
import {
  type AwarenessEntry,
  assertJsonState,
  awarenessEntries,
  encodeAwarenessEntries,
  encodeRemoval,
  entryState,
  entryText,
  isRemoval,
} from './protocol.js'

/** Awareness client IDs one connection may speak for (a browser tab has one). */
const MAX_AWARENESS_IDS_PER_CONNECTION = 8
/** How long the owner of a client ID claimed by another socket has to answer a ping. */
const OWNER_PROBE_MS = 2_000
/** How often states are checked for having outlived y-protocols' `outdatedTimeout` unrenewed. */
const SWEEP_MS = outdatedTimeout / 10
/**
 * How long a client that left is remembered: twice the time a stock client keeps a state it hears
 * nothing more of, so that no echo of the client's last state can still be on its way.
 */
const FORGET_AFTER_MS = 2 * outdatedTimeout

export interface PresenceOptions {
  /** Changes are sent together once per this window, in ms. */
  readonly flushMs: number
  readonly maxAwarenessBytes: number
  /** A connection's own changes go back to it only after this long without a frame (see flush). */
  readonly keepaliveMs: number
  /**
   * Cluster mode: gets, once per window, a frame of the changes this node's connections made (never
   * what came from other nodes), for the other nodes.
   */
  readonly publish?: (frame: Uint8Array) => void
}

/** Another server node, which announced the states of its own connections (cluster mode). */
export class Peer {
  constructor(readonly node: string) {}
}

/** Who announced a client ID: a connection here, or another node. */
type Owner = Connection | Peer

/**
 * What the room knows of one awareness client ID. Kept for FORGET_AFTER_MS after it leaves, so
 * that a stale echo of its state (stock clients send back what they receive) cannot bring it back,
 * then forgotten: a room that stays loaded does not keep every client it ever saw.
 */
interface Client {
  clock: number
  /** Its current state's entry, the bytes the client sent (see `entryText`); null once it left. */
  entry: string | null
  /** performance.now() of its last change, for the outdated-state sweep. */
  updatedAt: number
  /** The connection (or node) that announced it: no other connection may speak for it. */
  owner: Owner | null
}

/**
 * A room's awareness (cursors, names): who announced which client ID, what a connection may say,
 * and a coalesced broadcast of the changes. Knows the room's connections, nothing of its document.
 *
 * The server is no participant and never reads the states: it keeps each one as the bytes its client
 * sent (checked once to be JSON) and relays those, by y-protocols' rules (a newer clock wins, a
 * state not renewed within `outdatedTimeout` is removed), with no decoding or re-encoding.
 */
export class Presence {
  private readonly clients = new Map<number, Client>()
  private readonly changed = new Set<number>()
  /** Of those, the ones whose latest change came from another node (not published back). */
  private readonly fromPeers = new Set<number>()
  private timer: NodeJS.Timeout | null = null
  private sweeper: NodeJS.Timeout | null = null
  private destroyed = false

  constructor(
    private readonly connections: ReadonlySet<Connection>,
    private readonly options: PresenceOptions,
  ) {}

  /** Sends `connection` every current state (nothing when there are none). */
  greet(connection: Connection): void {
    if (this.hasStates()) connection.send(this.everyone())
  }

  /** Answers a query-awareness message. */
  answer(connection: Connection): void {
    connection.send(this.everyone())
  }

  /** Removes exactly the states `connection` announced, with a broadcast. */
  leave(connection: Connection): void {
    for (const [id, client] of this.clients) {
      if (client.owner !== connection) continue
      client.owner = null
      this.remove(id, client)
    }
  }

  /**
   * Applies an awareness update from `connection`. Drops one that would change another
   * connection's client; throws a ConnectionError for one too big, with too many clients, or
   * unparsable.
   */
  apply(connection: Connection, update: Uint8Array): void {
    if (update.byteLength > this.options.maxAwarenessBytes) {
      throw new ConnectionError(
        'TANDEM_ERR_AWARENESS_TOO_BIG',
        CloseCode.PolicyViolation,
        `awareness update over ${this.options.maxAwarenessBytes} bytes`,
      )
    }
    const kept: AwarenessEntry[] = []
    let fresh = 0
    for (const entry of awarenessEntries(update)) {
      // Stock clients send back every state they receive (same clock: no effect). Only entries
      // that would change something count, by y-protocols' rule: a newer clock, or a removal at
      // the same clock of a present state.
      const client = this.clients.get(entry.clientId)
      // Nothing to remove (a client forgotten, or never seen).
      if (!client && isRemoval(entry.state)) continue
      const clock = client?.clock ?? 0
      const changes =
        entry.clock > clock || (entry.clock === clock && client?.entry != null && isRemoval(entry.state))
      if (!changes) continue
      assertJsonState(entry.state)
      kept.push(entry)
      const owner = client?.owner ?? null
      if (owner === null) fresh++
      else if (owner instanceof Peer) {
        // The client moved here from another node (its old socket there not closed yet).
        fresh++
      } else if (owner !== connection) {
        // A client back on a new socket while its old one hangs on silently (a network switch):
        // if the old one is gone, it fails this ping and leaves, taking its states with it, and
        // the client's next change (a cursor move, or its renewal within 15 s) is taken here.
        owner.probe(OWNER_PROBE_MS)
        connection.noteRefused(
          'TANDEM_ERR_AWARENESS_NOT_OWNED',
          `awareness update for client ${entry.clientId} of another connection dropped`,
        )
        return
      }
    }
    if (kept.length === 0) return
    if (fresh > 0 && this.ownedBy(connection) + fresh > MAX_AWARENESS_IDS_PER_CONNECTION) {
      throw new ConnectionError(
        'TANDEM_ERR_AWARENESS_TOO_BIG',
        CloseCode.PolicyViolation,
        `more than ${MAX_AWARENESS_IDS_PER_CONNECTION} awareness clients on one connection`,
      )
    }
    this.store(kept, connection)
  }

  /**
   * Applies an awareness update another node published: the states of its connections, checked
   * there. Newer clocks win, as from a connection.
   */
  applyRemote(peer: Peer, update: Uint8Array): void {
    const kept: AwarenessEntry[] = []
    for (const entry of awarenessEntries(update)) {
      const client = this.clients.get(entry.clientId)
      if (!client && isRemoval(entry.state)) continue
      const clock = client?.clock ?? 0
      if (entry.clock > clock || (entry.clock === clock && client?.entry != null && isRemoval(entry.state)))
        kept.push(entry)
    }
    if (kept.length > 0) this.store(kept, peer)
  }

  /** Removes every state `peer` announced (the node stopped, or died), without publishing it. */
  dropPeer(peer: Peer): void {
    for (const [id, client] of this.clients) {
      if (client.owner !== peer) continue
      client.owner = null
      this.remove(id, client)
      this.fromPeers.add(id)
    }
  }

  /** A frame of the states this node's connections announced (for a node that asks), or null. */
  localStates(): Uint8Array | null {
    const entries: string[] = []
    for (const client of this.clients.values())
      if (client.entry !== null && client.owner !== null && !(client.owner instanceof Peer))
        entries.push(client.entry)
    return entries.length > 0 ? encodeAwarenessEntries(entries) : null
  }

  private store(kept: readonly AwarenessEntry[], owner: Owner): void {
    const now = performance.now()
    const remote = owner instanceof Peer
    for (const { clientId, clock, state, bytes } of kept) {
      let client = this.clients.get(clientId)
      if (!client) {
        client = { clock, entry: null, updatedAt: now, owner: null }
        this.clients.set(clientId, client)
      }
      client.clock = clock
      client.updatedAt = now
      if (isRemoval(state)) {
        if (client.entry === null) continue
        client.entry = null
        client.owner = null
      } else {
        client.entry = entryText(bytes)
        client.owner = owner
        if (!this.sweeper) {
          this.sweeper = setInterval(this.sweep, SWEEP_MS)
          this.sweeper.unref()
        }
      }
      this.changed.add(clientId)
      if (remote) this.fromPeers.add(clientId)
      else this.fromPeers.delete(clientId)
    }
    this.scheduleFlush()
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    if (this.timer) clearTimeout(this.timer)
    if (this.sweeper) clearInterval(this.sweeper)
  }

  /**
   * Sends the changes collected so far now, instead of at the end of the window, whose timer goes:
   * a room flushes with nearly every update it relays, and a timer left to fire would wake the
   * event loop 30 ms later only to find nothing (clearing it costs less).
   */
  readonly flush = (): void => {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.destroyed || this.changed.size === 0) return
    const changed = [...this.changed]
    this.changed.clear()
    const frame = encodeAwarenessEntries(changed.map((id) => this.entryOf(id)))
    const { publish } = this.options
    if (publish) {
      const local = changed.filter((id) => !this.fromPeers.has(id))
      this.fromPeers.clear()
      if (local.length === changed.length) publish(frame)
      else if (local.length > 0) publish(encodeAwarenessEntries(local.map((id) => this.entryOf(id))))
    }
    // A frame of one connection's own states is no news to it. It goes back only as a keepalive:
    // the stock client drops a connection that hears nothing for 30 s, and renews its own state
    // every 15 s, so the echo reaches a client that is alone or has not heard from us lately.
    const author = this.authorOf(changed)
    const quietSince = performance.now() - this.options.keepaliveMs
    for (const connection of this.connections) {
      if (connection !== author || this.connections.size === 1 || connection.lastSentAt < quietSince)
        connection.send(frame)
    }
  }

  /** Marks a present client as gone (its clock one ahead, as y-protocols does) for the next flush. */
  private remove(id: number, client: Client): void {
    if (client.entry === null) return
    client.entry = null
    client.clock++
    client.updatedAt = performance.now()
    this.changed.add(id)
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.destroyed) return
    // Coalesced: one frame per room per window carries every client's latest state, instead of
    // one frame per cursor move per receiver.
    this.timer ??= setTimeout(this.flush, this.options.flushMs)
  }

  /**
   * Removes states not renewed within `outdatedTimeout` (stock clients renew every 15 s). The
   * removal goes to the owner too: a stock client that is still there puts its state back.
   * Forgets clients removed that long ago.
   */
  private readonly sweep = (): void => {
    const now = performance.now()
    let remembered = false
    for (const [id, client] of this.clients) {
      if (client.entry !== null && client.updatedAt <= now - outdatedTimeout) {
        // Every node sweeps the states it holds: a peer's removal is not published.
        if (client.owner instanceof Peer) this.fromPeers.add(id)
        client.owner = null
        this.remove(id, client)
      }
      // One still waiting for the flush stays until it is sent (an event loop stalled that long).
      const forget = client.entry === null && client.updatedAt <= now - FORGET_AFTER_MS
      if (forget && !this.changed.has(id)) this.clients.delete(id)
      else remembered = true
    }
    // Started again by the next state stored.
    if (!remembered && this.sweeper) {
      clearInterval(this.sweeper)
      this.sweeper = null
    }
  }

  /**
   * The name `connection`'s editor shows (the `user.name` of a state it announced), if any: read
   * only when a version records who edited, never on the relay path.
   */
  nameOf(connection: Connection): string | undefined {
    for (const client of this.clients.values()) {
      if (client.owner !== connection || client.entry === null) continue
      const name = (entryState(client.entry) as { user?: { name?: unknown } } | null)?.user?.name
      if (typeof name === 'string' && name !== '') return name
    }
    return undefined
  }

  /** How many client IDs `connection` speaks for (a connection has one or two: no index kept). */
  private ownedBy(connection: Connection): number {
    let owned = 0
    for (const client of this.clients.values()) if (client.owner === connection) owned++
    return owned
  }

  private hasStates(): boolean {
    for (const client of this.clients.values()) if (client.entry !== null) return true
    return false
  }

  private entryOf(id: number): string {
    const client = this.clients.get(id) as Client
    return client.entry ?? encodeRemoval(id, client.clock)
  }

  private everyone(): Uint8Array {
    const entries: string[] = []
    for (const client of this.clients.values()) if (client.entry) entries.push(client.entry)
    return encodeAwarenessEntries(entries)
  }

  /** The one connection that owns every state in `ids`, or null when there is not exactly one. */
  private authorOf(ids: readonly number[]): Connection | null {
    let author: Connection | null = null
    for (const id of ids) {
      const owner = this.clients.get(id)?.owner ?? null
      if (owner === null || owner instanceof Peer || (author !== null && owner !== author)) return null
      author = owner
    }
    return author
  }
}
