import * as awarenessProtocol from 'y-protocols/awareness'
import type * as Y from 'yjs'
import { Connection } from './connection.js'
import { CloseCode, ConnectionError, invalidPayload } from './errors.js'
import { awarenessEntries, encodeAwareness } from './protocol.js'

/** Awareness client IDs one connection may speak for (a browser tab has one). */
const MAX_AWARENESS_IDS_PER_CONNECTION = 8
/** How long the owner of a client ID claimed by another socket has to answer a ping. */
const OWNER_PROBE_MS = 2_000

export interface PresenceOptions {
  /** Changes are sent together once per this window, in ms. */
  readonly flushMs: number
  readonly maxAwarenessBytes: number
  /** A connection's own changes go back to it only after this long without a frame (see flush). */
  readonly keepaliveMs: number
}

/**
 * A room's awareness (cursors, names): who announced which client ID, what a connection may say,
 * and a coalesced broadcast of the changes. Knows the room's connections, nothing of its document.
 */
export class Presence {
  readonly awareness: awarenessProtocol.Awareness
  /** Which connection announced each awareness client ID: no one else may speak for it. */
  private readonly owners = new Map<number, Connection>()
  private readonly changed = new Set<number>()
  private timer: NodeJS.Timeout | null = null
  private destroyed = false

  constructor(
    doc: Y.Doc,
    private readonly connections: ReadonlySet<Connection>,
    private readonly options: PresenceOptions,
  ) {
    this.awareness = new awarenessProtocol.Awareness(doc)
    // The server itself is not a participant.
    this.awareness.setLocalState(null)
    this.awareness.on('update', this.onUpdate)
  }

  /** Sends `connection` every current state (nothing when there are none). */
  greet(connection: Connection): void {
    if (this.awareness.getStates().size > 0) connection.send(this.everyone())
  }

  /** Answers a query-awareness message. */
  answer(connection: Connection): void {
    connection.send(this.everyone())
  }

  /** Removes exactly the states `connection` announced, with a broadcast. */
  leave(connection: Connection): void {
    if (connection.awarenessIds.size === 0) return
    for (const id of connection.awarenessIds) if (this.owners.get(id) === connection) this.owners.delete(id)
    awarenessProtocol.removeAwarenessStates(this.awareness, [...connection.awarenessIds], null)
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
    let fresh = 0
    for (const { clientId, clock, removed } of awarenessEntries(update)) {
      // Stock clients echo every state they receive (same clock: no effect). Only entries that
      // would change something count, by y-protocols' rule (a newer clock, or a removal at the
      // same clock).
      const current = this.awareness.meta.get(clientId)?.clock ?? -1
      const effective =
        clock > current || (clock === current && removed && this.awareness.states.has(clientId))
      if (!effective) continue
      const owner = this.owners.get(clientId)
      if (owner === undefined) fresh++
      else if (owner !== connection) {
        // A client back on a new socket while its old one hangs on silently (a network switch):
        // if the old one is gone, it fails this ping and leaves, taking its states with it, and
        // the client's next change (a cursor move, or its renewal within 15 s) is taken here.
        owner.probe(OWNER_PROBE_MS)
        connection.reject(
          'TANDEM_ERR_AWARENESS_NOT_OWNED',
          `awareness update for client ${clientId} of another connection dropped`,
        )
        return
      }
    }
    if (connection.awarenessIds.size + fresh > MAX_AWARENESS_IDS_PER_CONNECTION) {
      throw new ConnectionError(
        'TANDEM_ERR_AWARENESS_TOO_BIG',
        CloseCode.PolicyViolation,
        `more than ${MAX_AWARENESS_IDS_PER_CONNECTION} awareness clients on one connection`,
      )
    }
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, connection)
    } catch (cause) {
      throw invalidPayload('invalid awareness update', cause)
    }
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    if (this.timer) clearTimeout(this.timer)
    this.awareness.destroy()
  }

  private everyone(): Uint8Array {
    return encodeAwareness(
      awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()]),
    )
  }

  private readonly onUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (origin instanceof Connection) {
      for (const id of [...added, ...updated]) {
        origin.awarenessIds.add(id)
        this.owners.set(id, origin)
      }
      for (const id of removed) {
        origin.awarenessIds.delete(id)
        this.owners.delete(id)
      }
    }
    for (const id of added) this.changed.add(id)
    for (const id of updated) this.changed.add(id)
    for (const id of removed) this.changed.add(id)
    // Coalesced: one frame per room per window carries every client's latest state, instead of
    // one frame per cursor move per receiver.
    this.timer ??= setTimeout(this.flush, this.options.flushMs)
  }

  /** Sends the changes collected so far now, instead of at the end of the window. */
  readonly flush = (): void => {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.destroyed || this.changed.size === 0) return
    const changed = [...this.changed]
    this.changed.clear()
    const frame = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
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

  /** The one connection that owns every state in `ids`, or null when there is not exactly one. */
  private authorOf(ids: readonly number[]): Connection | null {
    let author: Connection | null = null
    for (const id of ids) {
      const owner = this.owners.get(id)
      if (owner === undefined || (author !== null && owner !== author)) return null
      author = owner
    }
    return author
  }
}
