import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { Author, DocStore } from '../persistence/store.js'
import {
  encodePermissionDenied,
  encodeSaved,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
} from '../protocol/wire.js'
import { Backlog } from './backlog.js'
import { type DocBuilder, SLICED_BYTES } from './builder.js'
import { Connection, type MessageSink } from './connection.js'
import { CloseCode, ConnectionError, invalidPayload } from './errors.js'
import { History } from './history.js'
import type { Stats } from './metrics.js'
import { Outbox } from './outbox.js'
import { dropPending, hasPending, pendingBytes } from './pending.js'
import { Presence } from './presence.js'
import { decodeYjsUpdate, isEmptyStateVector, isEmptyUpdate, type Message } from './protocol.js'

/** What a room tells its owner about. */
export interface RoomEvents {
  /** A document update was applied (and handed to the store). */
  onChange(room: Room, update: Uint8Array, origin: Connection | null): void
  /** A store write failed; the room keeps the document in memory and retries. */
  onPersistError(room: Room, error: unknown): void
}

/**
 * What connects the rooms of this node to the other nodes of a cluster (server/cluster.ts); null
 * on a single node.
 */
export interface Relay {
  /** Starts hearing `name`'s updates; called before its document is read from the store. */
  open(name: string): Promise<void>
  /** `room` is in memory: applies what was heard since open(), and from now on. */
  attach(room: Room): void
  /** The room `name` left memory, or failed to load: stops hearing it. */
  close(name: string): void
  /** Shares a frame of the awareness changes this node's connections made. */
  publishAwareness(name: string, frame: Uint8Array): void
}

export interface RoomOptions {
  readonly store: DocStore
  readonly relay: Relay | null
  readonly stats: Stats
  readonly log: Logger
  readonly compactAfterRecords: number
  readonly persistRetryMs: number
  readonly awarenessFlushMs: number
  readonly keepaliveMs: number
  readonly maxAwarenessBytes: number
  readonly maxPendingUpdateBytes: number
  /** See HistoryOptions. */
  readonly versionQuietMs: number
  readonly versionIntervalMs: number
  /** Merges a large document's compaction off the event loop. */
  readonly builder: DocBuilder
  readonly events: RoomEvents
}

/** A room's people: its connections and their presence, handed on from a reading room to its room. */
export interface People {
  readonly connections: Set<Connection>
  readonly presence: Presence
}

/** The people of a new room `name`: no one yet. */
export function gather(name: string, options: RoomOptions): People {
  const connections = new Set<Connection>()
  const { relay } = options
  const presence = new Presence(connections, {
    flushMs: options.awarenessFlushMs,
    keepaliveMs: options.keepaliveMs,
    maxAwarenessBytes: options.maxAwarenessBytes,
    publish: relay ? (frame) => relay.publishAwareness(name, frame) : undefined,
  })
  return { connections, presence }
}

/** A client's document update, as a sync step 2 or an update message. */
type UpdateMessage = Extract<Message, { kind: 'sync-step2' | 'sync-update' }>

/** An update being applied: its bytes, and the frame that carries it when it can be relayed as is. */
interface Incoming {
  readonly update: Uint8Array
  readonly frame: Uint8Array | null
}

/**
 * A large document's state as last stored whole, to answer fresh clients without encoding it,
 * and to compact it from without encoding it.
 */
interface Snapshot {
  readonly state: Uint8Array
  readonly vector: Uint8Array
  /** The room's revision when it was taken. */
  readonly revision: number
  /** Every update applied since, which complete it; null past MAX_SINCE_BYTES. */
  since: Uint8Array[] | null
}

/** The origin of a transaction applying what another node stored (cluster mode). */
const FROM_PEER = Symbol('from another node')
/** The origin of a transaction integrating the backlog: stored and relayed already. */
const BACKLOG = Symbol('backlog')

const noop = (): void => undefined
/** A document is compacted once its appended records reach 1/this of its compacted size… */
const COMPACT_GROWTH_DIVISOR = 4
/** …or this many times `compactAfterRecords` records: a load replays records one by one. */
const MAX_RECORDS_FACTOR = 4
/** A large document keeps the updates since its snapshot in memory up to this many bytes. */
const MAX_SINCE_BYTES = 1024 * 1024

/** Whether a transaction inserted or deleted anything (Yjs's own test before it emits `update`). */
function changedAnything(transaction: Y.Transaction): boolean {
  if (transaction.deleteSet.clients.size > 0) return true
  for (const [client, clock] of transaction.afterState) {
    if (transaction.beforeState.get(client) !== clock) return true
  }
  return false
}

/**
 * One document in memory: its Y.Doc, its presence (awareness) and its connections.
 *
 * Durability: every update is handed to the store when applied, and nothing that carries document
 * content (relayed updates, sync step 2 replies) leaves the room before the store confirms the write
 * it depends on (the room's Outbox holds it until then). So whatever any client has seen is on disk.
 *
 * A client's keystroke is stored and relayed as it came and integrated into the document later,
 * with the others of its room, in one transaction (see backlog.ts): `doc` integrates them first.
 */
export class Room implements MessageSink {
  /** Cursors and names of the people in the room. */
  readonly presence: Presence
  readonly connections: Set<Connection>
  /** Its versions: recorded automatically, on request, and before the room is unloaded. */
  readonly history: History
  /** Stored records, and the bytes of the ones appended since the document was last compacted. */
  private records: number
  private appendedBytes = 0
  /**
   * Size of the record the document was last compacted into: its oldest stored record (for a
   * document never compacted, its first update, small enough to leave the record count to decide).
   */
  private compactedBytes: number
  /** Document content on its way out, held until the write it depends on completes. */
  private readonly outbox: Outbox
  /** The latest store write of any kind, for settle(). */
  private lastWrite: Promise<void> = Promise.resolve()
  /** For "saved" acknowledgements: the write of the last update from each connection that asks. */
  private readonly savedWrites = new Map<Connection, Promise<void>>()
  /** Transactions that changed the document since it was built from the store. */
  private revision = 0
  /** For a large document: its state as loaded or last compacted. */
  private snapshot: Snapshot | null = null
  /** The document; `doc` is the same once the backlog is integrated into it. */
  private readonly document: Y.Doc
  /** Clients' updates stored and relayed but not yet integrated into the document. */
  private readonly backlog: Backlog
  /** The update being applied, when nothing was pending before it. */
  private incoming: Incoming | null = null
  /** Bumped on every failed write; a full rewrite started at the same epoch clears `dirty`. */
  private failures = 0
  private dirty = false
  /** "Saved" acknowledgements waiting for a failed write to be redone. */
  private readonly cleanWaiters: Array<() => void> = []
  private compactTimer: NodeJS.Immediate | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private destroyed = false

  /**
   * `doc`: what the `stored` records make (built by a DocBuilder). `people`: those of the reading
   * room it replaces (already greeted and answered), if any.
   */
  constructor(
    readonly name: string,
    stored: readonly Uint8Array[],
    doc: Y.Doc,
    private readonly options: RoomOptions,
    people: People = gather(name, options),
  ) {
    this.document = doc
    this.backlog = new Backlog(doc, BACKLOG, (error) => {
      options.log.error({ room: name, err: error }, 'a stored update failed to integrate')
      // The store has it, the document not: the document's own state replaces its records.
      this.compactSoon()
    })
    this.connections = people.connections
    this.presence = people.presence
    this.records = stored.length
    this.compactedBytes = stored[0]?.byteLength ?? 0
    for (let i = 1; i < stored.length; i++) this.appendedBytes += (stored[i] as Uint8Array).byteLength
    this.outbox = new Outbox({
      deliver: (frame, to, except) => this.deliver(frame, to, except),
      releasing: (release) => {
        // Everything released now, and the cursor moves that came with it, leaves in one write per
        // socket: the text and the cursor that follows it arrive together, for one system call.
        for (const connection of this.connections) connection.cork()
        try {
          release()
          this.presence.flush()
        } finally {
          for (const connection of this.connections) connection.uncork()
        }
      },
    })
    if (stored.length === 1) this.keepSnapshot(stored[0] as Uint8Array, Y.encodeStateVector(doc))
    this.history = new History(name, () => this.doc, {
      store: options.store,
      versionQuietMs: options.versionQuietMs,
      versionIntervalMs: options.versionIntervalMs,
      authorOf: (connection) => this.authorOf(connection),
    })
    doc.on('afterTransactionCleanup', this.onTransaction)
    // Those who left while it was built.
    for (const connection of [...this.connections]) if (!connection.isOpen) this.leave(connection)
  }

  /** The document, with every update the room took integrated. */
  get doc(): Y.Doc {
    this.backlog.integrate()
    return this.document
  }

  /** Adds a connection and greets it like the reference server: sync step 1, then awareness. */
  join(connection: Connection): void {
    this.connections.add(connection)
    connection.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    this.presence.greet(connection)
    connection.attach(this)
  }

  /** Removes a connection and exactly the awareness states it announced. */
  leave(connection: Connection): void {
    if (!this.connections.delete(connection)) return
    this.savedWrites.delete(connection)
    this.history.left(connection)
    this.presence.leave(connection)
  }

  receive(connection: Connection, message: Message): void {
    switch (message.kind) {
      case 'sync-step1': {
        const { snapshot } = this
        if (snapshot && isEmptyStateVector(message.stateVector)) {
          // A fresh client of a large document: what changed since the state was stored, then
          // that state (encoding the whole document would hold up every other room for as long).
          // In this order the client's Yjs holds the changes until the state they build on comes,
          // and the sync step 2 that marks it synced leaves it with everything.
          if (this.revision > snapshot.revision) {
            const since = Y.encodeStateAsUpdate(this.doc, snapshot.vector)
            this.outbox.send(encodeUpdate(since), null, connection, null)
          }
          this.outbox.send(encodeSyncStep2(snapshot.state), null, connection, null)
          return
        }
        // Computed now, sent once everything it contains is on disk.
        let update: Uint8Array
        try {
          update = Y.encodeStateAsUpdate(this.doc, message.stateVector)
        } catch (cause) {
          throw invalidPayload('invalid state vector', cause)
        }
        this.outbox.send(encodeSyncStep2(update), null, connection, null)
        return
      }
      case 'sync-step2':
      case 'sync-update':
        if (connection.readOnly) {
          // A read-only client with no news still answers our step 1 with an empty update.
          if (isEmptyUpdate(message.update)) return
          connection.noteRefused(
            'TANDEM_ERR_READ_ONLY',
            'document update from a read-only connection refused',
          )
          connection.send(encodePermissionDenied('read-only access: document updates are not accepted'))
          return
        }
        this.applyUpdate(connection, message)
        return
      case 'awareness':
        this.presence.apply(connection, message.update)
        return
      case 'query-awareness':
        this.presence.answer(connection)
        return
      case 'saved': {
        if (!connection.wantsSaved) {
          throw new ConnectionError(
            'TANDEM_ERR_UNKNOWN_MESSAGE',
            CloseCode.ProtocolError,
            'saved markers need the saved=1 query parameter',
          )
        }
        const { seq } = message
        // Acknowledged once this connection's last update is written and no earlier write is
        // still failed; until then the client keeps showing "Saving…".
        const ack = () => connection.send(encodeSaved(seq))
        const afterWrite = () => (this.dirty ? this.cleanWaiters.push(ack) : ack())
        const written = this.savedWrites.get(connection) ?? Promise.resolve()
        written.then(afterWrite, () => this.cleanWaiters.push(ack))
        return
      }
    }
  }

  /**
   * Records a version of what changed since the latest one, then writes the whole document as one
   * record when that saves space or a write failed.
   */
  async persist(): Promise<void> {
    if (this.history.pending) {
      await this.history.record().catch((error: unknown) => this.options.events.onPersistError(this, error))
    }
    if (this.destroyed) return
    if (this.snapshot?.since && this.records > 1 && !this.dirty) await this.compactOffLoop(this.snapshot)
    else if (this.records > 1 || this.dirty) this.compact()
    return this.settle()
  }

  /** True while some update the room applied may not be on disk. */
  get hasUnsavedChanges(): boolean {
    return this.dirty
  }

  /** Resolves once every write handed to the store so far has completed (or failed). */
  async settle(): Promise<void> {
    for (;;) {
      const write = this.lastWrite
      await write.catch(noop)
      if (write === this.lastWrite) return
    }
  }

  /** Releases timers and listeners. The room must have no connections. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    if (this.compactTimer) clearImmediate(this.compactTimer)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.presence.destroy()
    this.history.destroy()
    this.backlog.destroy()
    this.document.destroy()
  }

  /** Who `connection`'s user is: the token's, or with auth off the name its editor shows. */
  private authorOf(connection: Connection): Author {
    const { user } = connection.access
    if (user.name !== undefined) return { id: user.id, name: user.name }
    const name = this.presence.nameOf(connection)
    return name === undefined ? { id: user.id } : { id: user.id, name }
  }

  /**
   * Applies an update another node stored (cluster mode): relayed to this node's connections like
   * any, never stored again, counted toward compaction (it is in the store's log). Throws on bytes
   * that are no Yjs update.
   */
  applyStored(update: Uint8Array): void {
    decodeYjsUpdate(update)
    this.backlog.integrate()
    this.apply(update, null, FROM_PEER)
  }

  private applyUpdate(connection: Connection, message: UpdateMessage): void {
    // Parse it whole first: bytes that break halfway must not leave half an update applied.
    const decoded = decodeYjsUpdate(message.update)
    if (message.kind === 'sync-update' && this.backlog.take(message.update, decoded)) {
      this.accept(message.update, message.frame, connection)
      return
    }
    this.backlog.integrate()
    try {
      this.apply(message.update, message.kind === 'sync-update' ? message.frame : null, connection)
    } catch (cause) {
      throw invalidPayload('invalid document update', cause)
    }
    // Parts whose dependencies are missing wait in memory (never stored or relayed); bound them.
    if (pendingBytes(this.document) > this.options.maxPendingUpdateBytes) {
      dropPending(this.document)
      throw new ConnectionError(
        'TANDEM_ERR_MISSING_DEPENDENCIES',
        CloseCode.PolicyViolation,
        `updates waiting for missing changes exceed ${this.options.maxPendingUpdateBytes} bytes`,
      )
    }
  }

  /** Applies `update` to the document; the caller has integrated the backlog. */
  private apply(update: Uint8Array, frame: Uint8Array | null, origin: Connection | typeof FROM_PEER): void {
    try {
      if (!hasPending(this.document)) this.incoming = { update, frame }
      Y.applyUpdate(this.document, update, origin)
    } finally {
      this.incoming = null
    }
  }

  /**
   * Stores and relays what a transaction changed. When nothing was pending before or after, that
   * is what the client sent (less what the document had already, which receivers skip): its own
   * bytes, and its own frame, go on as they came, with no encoding. Otherwise (parts waited for
   * missing changes) the difference is encoded from the document. The backlog's updates were
   * stored and relayed when it took them.
   */
  private readonly onTransaction = (transaction: Y.Transaction): void => {
    if (transaction.origin === BACKLOG || !changedAnything(transaction)) return
    const sent = hasPending(this.document) ? null : this.incoming
    const update = sent
      ? sent.update
      : Y.encodeStateAsUpdate(this.document, Y.encodeStateVector(transaction.beforeState))
    this.accept(update, sent?.frame ?? encodeUpdate(update), transaction.origin)
  }

  /**
   * Stores and relays `update`, a change to the document (applied, or taken into the backlog)
   * that `frame` carries, made by `origin`.
   */
  private accept(update: Uint8Array, frame: Uint8Array, origin: unknown): void {
    this.revision++
    this.records++
    this.appendedBytes += update.byteLength
    const snapshot = this.snapshot
    if (snapshot?.since) {
      // A copy: a client's update is a view of the frame it came in.
      if (this.appendedBytes <= MAX_SINCE_BYTES) snapshot.since.push(update.slice())
      else snapshot.since = null
    }
    const from = origin instanceof Connection ? origin : null
    if (origin === FROM_PEER) {
      // Stored by the node that received it; its versions record it there.
      this.outbox.send(frame, update, null, null)
    } else {
      const written = this.followAppend(this.options.store.append(this.name, update))
      from?.holdUntil(written, update.byteLength)
      if (from?.wantsSaved) this.savedWrites.set(from, written)
      this.history.changed(from)
      this.outbox.send(frame, update, null, from)
    }
    this.options.events.onChange(this, update, from)
    // Off the hot path: after the messages already read in this turn.
    if (this.shouldCompact()) this.compactSoon()
  }

  /** Compacts once the messages already read in this turn are handled. */
  private compactSoon(): void {
    this.compactTimer ??= setImmediate(() => {
      this.compactTimer = null
      if (!this.destroyed) this.compact()
    })
  }

  /**
   * Past `compactAfterRecords` records, once they add up to a quarter of the compacted document.
   * A compaction encodes and writes the whole document on the event loop (about 60 ms for a
   * 2.7 MB one), so a large document waits for proportionally more appends: what compaction
   * costs stays proportional to what is appended, whatever the document's size. Past 4 times
   * as many records it compacts whatever their size: loading after a crash replays each record.
   * A small document, too, is rewritten whole each time, and LevelDB then carries it down its
   * levels: in fan-out 20×10, compacting every 2,000 records rather than every 500 (and LevelDB's
   * compression off, which alone changed nothing) read 0.93× the server's CPU.
   */
  private shouldCompact(): boolean {
    const { compactAfterRecords } = this.options
    if (this.records < compactAfterRecords) return false
    return (
      this.appendedBytes * COMPACT_GROWTH_DIVISOR >= this.compactedBytes ||
      this.records >= compactAfterRecords * MAX_RECORDS_FACTOR
    )
  }

  private compact(): void {
    this.replaceRecords(Y.encodeStateAsUpdate(this.doc), this.failures)
  }

  /**
   * Compacts a large document from its snapshot and the updates since, merged in the worker:
   * encoding it would hold up every other room for tens of milliseconds. Dropped when the document
   * changes or a write fails meanwhile: it is in use again and compacts when it needs to, or the
   * retry rewrites it.
   */
  private async compactOffLoop({ state, since }: Snapshot): Promise<void> {
    const { revision, failures } = this
    let merged: Uint8Array | null = null
    try {
      merged = await this.options.builder.merge([state, ...(since ?? [])])
    } catch (error) {
      // The worker failed (it died, say): encoded here, as without one.
      this.options.log.warn({ room: this.name, err: error }, 'compaction merge failed; encoding instead')
    }
    if (this.destroyed || this.revision !== revision || this.failures !== failures) return
    if (merged) this.replaceRecords(merged, failures)
    else this.compact()
  }

  /**
   * Writes `state` (the whole document) as its only record. `epoch`: the failure count when it
   * was made; it clears `dirty` if no write failed since.
   */
  private replaceRecords(state: Uint8Array, epoch: number): void {
    // Not a gate for outgoing content: it rewrites what is already on disk (or, after a failure,
    // what was relayed anyway), so sync replies need not wait for it.
    this.keepSnapshot(state, Y.encodeStateVector(this.doc))
    const written = this.followWrite(this.options.store.compact(this.name, state))
    this.records = 1
    this.appendedBytes = 0
    this.compactedBytes = state.byteLength
    written.then(() => {
      if (this.failures !== epoch || !this.dirty) return
      this.dirty = false
      for (const ack of this.cleanWaiters.splice(0)) ack()
    }, noop)
  }

  private keepSnapshot(state: Uint8Array, vector: Uint8Array): void {
    this.snapshot =
      state.byteLength >= SLICED_BYTES ? { state, vector, revision: this.revision, since: [] } : null
  }

  /** Follows an append: the outbox holds what depends on it, settle() waits for it. */
  private followAppend(written: Promise<void>): Promise<void> {
    if (this.outbox.follow(written)) this.followWrite(written)
    return written
  }

  /** Follows any store write for `settle()`, and turns its failure into a retry. */
  private followWrite(written: Promise<void>): Promise<void> {
    if (written === this.lastWrite) return written
    this.lastWrite = written
    written.catch((error: unknown) => {
      this.failures++
      this.dirty = true
      this.options.events.onPersistError(this, error)
      this.scheduleRetry()
    })
    return written
  }

  private deliver(frame: Uint8Array, to: Connection | null, except: Connection | null): void {
    if (to) {
      to.send(frame)
      return
    }
    for (const connection of this.connections) if (connection !== except) connection.send(frame)
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.destroyed) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      if (!this.destroyed && this.dirty) this.compact()
    }, this.options.persistRetryMs)
  }
}
