import * as Y from 'yjs'
import { encodeSyncStep1, encodeSyncStep2 } from '../protocol/wire.js'
import type { Connection, MessageSink } from './connection.js'
import { invalidPayload } from './errors.js'
import type { Presence } from './presence.js'
import { isEmptyStateVector, isEmptyUpdate, type Message } from './protocol.js'
import { gather, type RoomOptions } from './room.js'
import { addsNothing, type StateFacts } from './stored-state.js'

/**
 * A large document whose clients so far only read it, served from its stored state (one compacted
 * record) without building its `Y.Doc`: building one takes the server a few hundred milliseconds
 * of CPU and tens of megabytes, which people who only read never need.
 *
 * Sync step 1 is answered with the stored bytes (a fresh client) or the difference Yjs computes
 * from them (a client with state), at once; the server's own sync step 1 follows once the state
 * is read (off the event loop, stored-state.ts). Presence works as in a room. The first message
 * that changes the document (or a "saved" marker) wakes it: every connection holds its messages,
 * that one first, until the room built from the same state takes them over with their presence.
 */
export class ReadingRoom implements MessageSink {
  readonly connections: Set<Connection>
  readonly presence: Presence
  /** What the stored state holds, once read. */
  private facts: StateFacts | null = null
  /** Woken (a room took its people over) or destroyed. */
  private done = false

  constructor(
    readonly name: string,
    /** The stored state: one compacted record. */
    readonly state: Uint8Array,
    private readonly options: RoomOptions,
    /** What the state holds; rejects when it cannot be read (then the room is woken: built). */
    facts: Promise<StateFacts>,
    /** Called once, by the first message that needs the document. */
    private readonly wake: (room: ReadingRoom) => void,
  ) {
    ;({ connections: this.connections, presence: this.presence } = gather(name, options))
    facts.then(
      (known) => {
        this.facts = known
        if (this.done) return
        for (const connection of this.connections) connection.send(encodeSyncStep1(known.vector))
      },
      () => this.rouse(null, null),
    )
  }

  /**
   * Greets a connection like a room does: answers the sync step 1 it sent while the document was
   * read, sends awareness, and sync step 1 once the state is read.
   */
  join(connection: Connection): void {
    this.connections.add(connection)
    connection.attach(this)
    if (this.facts) connection.send(encodeSyncStep1(this.facts.vector))
    this.presence.greet(connection)
  }

  /** Removes a connection and the awareness states it announced. */
  leave(connection: Connection): void {
    if (this.connections.delete(connection)) this.presence.leave(connection)
  }

  receive(connection: Connection, message: Message): void {
    switch (message.kind) {
      case 'sync-step1':
        this.answer(connection, message.stateVector)
        return
      case 'awareness':
        this.presence.apply(connection, message.update)
        return
      case 'query-awareness':
        this.presence.answer(connection)
        return
      case 'sync-step2':
      case 'sync-update': {
        // What a client with nothing new answers our sync step 1 with: nothing, or (one that
        // holds the document) its delete set.
        const { update } = message
        if (isEmptyUpdate(update) || (this.facts && addsNothing(update, this.facts))) return
      }
    }
    this.rouse(connection, message)
  }

  /** Stops its presence's timers (unless a room took it over). */
  destroy(): void {
    this.done = true
    this.presence.destroy()
  }

  /** Wakes it: its connections hold their messages, `message` first for `from`. */
  private rouse(from: Connection | null, message: Message | null): void {
    if (this.done) return
    this.done = true
    for (const held of this.connections) held.detach(held === from ? message : null)
    this.wake(this)
  }

  /** Sync step 2 for `stateVector`: the stored bytes as they are, or Yjs's difference of them. */
  private answer(connection: Connection, stateVector: Uint8Array): void {
    let update = this.state
    if (!isEmptyStateVector(stateVector)) {
      try {
        update = Y.diffUpdate(this.state, stateVector)
      } catch (cause) {
        throw invalidPayload('invalid state vector', cause)
      }
    }
    this.options.stats.answeredFromStore++
    connection.send(encodeSyncStep2(update))
  }
}
