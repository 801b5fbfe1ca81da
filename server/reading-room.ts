import * as Y from 'yjs'
import { encodeSyncStep1, encodeSyncStep2 } from '../protocol/wire.js'
import type { Connection, MessageSink } from './connection.js'
import { invalidPayload } from './errors.js'
import type { Presence } from './presence.js'
import { isEmptyStateVector, isEmptyUpdate, type Message } from './protocol.js'
import { gather, type RoomOptions } from './room.js'
import { KnownState, type StateFacts } from './stored-state.js'

/** Reads a stored state off the event loop (the DocBuilder's worker). */
export interface StateReader {
  /** What the state holds. */
  inspect(state: Uint8Array): Promise<StateFacts>
  /** What a client holding `vector` lacks of it: `Y.diffUpdate`. */
  diff(state: Uint8Array, vector: Uint8Array): Promise<Uint8Array>
}

/**
 * A large document whose clients so far only read it, served from its stored state (one compacted
 * record) without building its `Y.Doc`: building one takes the server a few hundred milliseconds
 * of CPU and tens of megabytes, which people who only read never need.
 *
 * Sync step 1 is answered with the stored bytes (a fresh client) at once, with the stored delete
 * set (a client holding every struct, such as a tab reconnecting) once the state is read, or with
 * the difference Yjs computes from them (a client with part of it) once the worker has it; the
 * server's own sync step 1 follows once the state is read (stored-state.ts). All of it is off the
 * event loop. Presence works as in a room. The first message that changes the document (or a
 * "saved" marker) wakes it: every connection holds its messages (sync step 1s not answered yet,
 * then that one) until the room built from the same state takes them over with their presence.
 */
export class ReadingRoom implements MessageSink {
  readonly connections: Set<Connection>
  readonly presence: Presence
  /** What the stored state holds, once read in the worker. */
  private known: KnownState | null = null
  /** …and the same as a promise (rejected when it cannot be read). */
  private readonly read: Promise<KnownState>
  /** Per connection, the sync step 1s not answered yet (the worker computes one), in order. */
  private readonly unanswered = new Map<Connection, Answer[]>()
  /** Woken (a room took its people over) or destroyed. */
  private done = false

  constructor(
    readonly name: string,
    /** The stored state: one compacted record. */
    readonly state: Uint8Array,
    private readonly options: RoomOptions,
    private readonly reader: StateReader,
    /** Called once, by the first message that needs the document. */
    private readonly wake: (room: ReadingRoom) => void,
  ) {
    ;({ connections: this.connections, presence: this.presence } = gather(name, options))
    // When the state cannot be read, the room is woken: built (and the error reported) by Rooms.
    this.read = reader.inspect(state).then((facts) => new KnownState(facts))
    this.read.then(
      (known) => {
        this.known = known
        if (this.done) return
        for (const connection of this.connections) connection.send(encodeSyncStep1(known.facts.vector))
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
    if (this.known) connection.send(encodeSyncStep1(this.known.facts.vector))
    this.presence.greet(connection)
  }

  /** Removes a connection and the awareness states it announced. */
  leave(connection: Connection): void {
    if (!this.connections.delete(connection)) return
    this.unanswered.delete(connection)
    this.presence.leave(connection)
  }

  receive(connection: Connection, message: Message): void {
    switch (message.kind) {
      case 'sync-step1':
        this.answer(connection, message)
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
        if (isEmptyUpdate(update) || this.known?.addsNothing(update)) return
      }
    }
    this.rouse(connection, message)
  }

  /** Stops its presence's timers (unless a room took it over). */
  destroy(): void {
    this.done = true
    this.presence.destroy()
  }

  /**
   * Wakes it: its connections hold their messages for the room, each its unanswered sync step 1s
   * first, then `message` for `from`.
   */
  private rouse(from: Connection | null, message: Message | null): void {
    if (this.done) return
    this.done = true
    for (const held of this.connections) {
      const unread = (this.unanswered.get(held) ?? []).map((answer) => answer.message)
      held.detach(held === from && message ? [...unread, message] : unread)
    }
    this.unanswered.clear()
    this.wake(this)
  }

  /**
   * Sync step 2 for a client's sync step 1: the stored bytes as they are for a fresh client, the
   * delete set alone for one that holds every struct (a tab reconnecting), else Yjs's difference
   * of them, computed off the event loop. Answers go in the order asked.
   */
  private answer(connection: Connection, message: SyncStep1): void {
    const { stateVector } = message
    // Read here, so that a vector that does not parse fails its connection at once.
    const clocks = isEmptyStateVector(stateVector) ? null : clocksOf(stateVector)
    const answer: Answer = { message, update: clocks ? null : this.state }
    const waiting = this.unanswered.get(connection)
    if (waiting) waiting.push(answer)
    else this.unanswered.set(connection, [answer])
    if (!clocks) {
      this.sendAnswers(connection)
      return
    }
    this.read
      .then((known) => known.answerHolder(clocks) ?? this.reader.diff(this.state, stateVector))
      // The worker failed (it died, say): Yjs's difference here, as a room would compute it.
      .catch(() => Y.diffUpdate(this.state, stateVector))
      .then(
        (update) => {
          answer.update = update
          this.sendAnswers(connection)
        },
        (cause: unknown) => {
          if (this.done || !this.unanswered.delete(connection)) return
          connection.fail(invalidPayload('invalid state vector', cause))
        },
      )
  }

  /** Sends `connection` the answers that are ready, in order, up to the first one that is not. */
  private sendAnswers(connection: Connection): void {
    const waiting = this.unanswered.get(connection)
    // Woken, the room answers them; gone, nobody asks.
    if (this.done || !waiting) return
    for (let next = waiting[0]; next?.update; next = waiting[0]) {
      waiting.shift()
      this.options.stats.answeredFromStore++
      connection.send(encodeSyncStep2(next.update))
    }
    if (waiting.length === 0) this.unanswered.delete(connection)
  }
}

type SyncStep1 = Extract<Message, { kind: 'sync-step1' }>

/** A sync step 1 and, once computed, its answer. */
interface Answer {
  readonly message: SyncStep1
  update: Uint8Array | null
}

function clocksOf(stateVector: Uint8Array): Map<number, number> {
  try {
    return Y.decodeStateVector(stateVector)
  } catch (cause) {
    throw invalidPayload('invalid state vector', cause)
  }
}
