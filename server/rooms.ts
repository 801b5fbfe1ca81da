import type { Logger } from 'pino'
import * as Y from 'yjs'
import { encodeSyncStep2 } from '../protocol/wire.js'
import { type DocBuilder, SLICED_BYTES } from './builder.js'
import type { Connection } from './connection.js'
import { CloseCode, ConnectionError, invalidPayload } from './errors.js'
import { isEmptyStateVector } from './protocol.js'
import { Room, type RoomOptions } from './room.js'

export interface RoomsEvents {
  onLoaded(room: Room): void
  onUnloaded(name: string): void
  onLoadFailed(name: string, error: unknown): void
}

/** A room being loaded: the connections and tasks waiting for it, and the load itself. */
interface Loading {
  readonly waiters: Connection[]
  /** Tasks waiting to run on it (see `use`). */
  holds: number
  /** The loaded room, or null when the load failed (the waiters were closed). */
  readonly room: Promise<Room | null>
}

/**
 * Name → room. Concurrent first connections share one load; a room is unloaded once its last
 * connection left, no server-side task holds it and its writes settled, and a connection
 * arriving meanwhile keeps it alive.
 */
export class Rooms {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Loading>()
  private readonly loads = new Set<Promise<unknown>>()
  /** Server-side tasks (the HTTP API) running on a room, by room. */
  private readonly holds = new Map<Room, number>()
  private readonly unloads = new Map<Room, Promise<void>>()

  constructor(
    private readonly options: RoomOptions & {
      readonly log: Logger
      /** Documents in memory (0: no limit). */
      readonly maxRooms: number
      /** Connections per document (0: no limit). */
      readonly maxConnectionsPerRoom: number
      readonly builder: DocBuilder
    },
    private readonly events: RoomsEvents,
  ) {}

  get size(): number {
    return this.rooms.size
  }

  /** Documents being read or built. */
  get loadingCount(): number {
    return this.loading.size
  }

  /** The room `name` when it is in memory. */
  loaded(name: string): Room | undefined {
    return this.rooms.get(name)
  }

  /**
   * Joins `connection` to its room, loading the room first if needed. A full room or server closes
   * the connection with 1013 (the client retries later).
   */
  join(connection: Connection): void {
    const name = connection.room
    const { maxConnectionsPerRoom } = this.options
    const room = this.rooms.get(name)
    const waiting = this.loading.get(name)
    const present = room?.connections.size ?? waiting?.waiters.length ?? 0
    if (maxConnectionsPerRoom > 0 && present >= maxConnectionsPerRoom) {
      connection.fail(
        new ConnectionError(
          'TANDEM_ERR_ROOM_FULL',
          CloseCode.TryAgainLater,
          `document has ${maxConnectionsPerRoom} connections`,
        ),
      )
      return
    }
    if (room) {
      room.join(connection)
      return
    }
    if (waiting) {
      waiting.waiters.push(connection)
      return
    }
    const full = this.fullError()
    if (full) {
      connection.fail(full)
      return
    }
    this.load(name, [connection])
  }

  /**
   * Runs `task` on the room `name`, loading it first if needed (sharing a load in progress). The
   * room stays in memory while the task runs; afterwards, one that no connection holds is unloaded
   * like a room its last connection left. Rejects with a ConnectionError (1013) when the server
   * has `maxRooms` documents open, or with the load's error.
   */
  async use<T>(name: string, task: (room: Room) => T | Promise<T>): Promise<T> {
    let room = this.rooms.get(name) ?? null
    if (room) {
      this.holds.set(room, (this.holds.get(room) ?? 0) + 1)
    } else {
      let loading = this.loading.get(name)
      if (!loading) {
        const full = this.fullError()
        if (full) throw full
        loading = this.load(name, [])
      }
      // Counted now: the load hands it to the room in the same turn the room appears.
      loading.holds++
      room = await loading.room
      if (!room) throw new Error(`document ${JSON.stringify(name)} could not be loaded`)
    }
    try {
      return await task(room)
    } finally {
      const left = (this.holds.get(room) ?? 1) - 1
      if (left > 0) this.holds.set(room, left)
      else this.holds.delete(room)
      if (this.idle(room)) void this.unload(room)
    }
  }

  /**
   * Drops the document `name` from memory without writing it: its connections are closed with
   * `error`. The caller deletes it from the store in the same turn, so that no load in between
   * reads what is being deleted.
   */
  async evict(name: string, error: ConnectionError): Promise<void> {
    const loading = this.loading.get(name)
    if (loading) await loading.room
    const room = this.rooms.get(name)
    if (!room) return
    this.rooms.delete(name)
    this.holds.delete(room)
    for (const connection of [...room.connections]) connection.fail(error)
    room.destroy()
    this.options.relay?.close(name)
    this.events.onUnloaded(name)
  }

  /** Removes `connection` from its room; unloads the room when it was the last one. */
  leave(connection: Connection): void {
    const room = this.rooms.get(connection.room)
    if (!room) return
    room.leave(connection)
    if (this.idle(room)) void this.unload(room)
  }

  /**
   * Persists and drops `room` unless a connection joins or a task takes it meanwhile. Shared by
   * concurrent callers; a room whose writes keep failing stays in memory (nothing it holds is
   * dropped).
   */
  unload(room: Room): Promise<void> {
    let unloading = this.unloads.get(room)
    if (unloading) return unloading
    unloading = (async () => {
      await room.persist()
      this.unloads.delete(room)
      if (!this.idle(room) || this.rooms.get(room.name) !== room) return
      if (room.hasUnsavedChanges) {
        this.options.log.error({ room: room.name }, 'room kept in memory: its changes could not be written')
        // The room retries its writes; try to unload again after that.
        setTimeout(() => {
          if (this.rooms.get(room.name) === room && this.idle(room)) void this.unload(room)
        }, this.options.persistRetryMs * 2).unref()
        return
      }
      this.rooms.delete(room.name)
      room.destroy()
      this.options.relay?.close(room.name)
      this.events.onUnloaded(room.name)
    })()
    this.unloads.set(room, unloading)
    return unloading
  }

  /** Waits for loads in progress, then persists and unloads every room without connections. */
  async drain(): Promise<void> {
    while (this.loads.size > 0) await Promise.all(this.loads)
    await Promise.all([...this.rooms.values()].map((room) => this.unload(room)))
  }

  private idle(room: Room): boolean {
    return room.connections.size === 0 && !this.holds.has(room)
  }

  /** The error for one document more than `maxRooms`, or null while there is room. */
  private fullError(): ConnectionError | null {
    const { maxRooms } = this.options
    if (maxRooms === 0 || this.rooms.size + this.loading.size < maxRooms) return null
    return new ConnectionError(
      'TANDEM_ERR_TOO_MANY_ROOMS',
      CloseCode.TryAgainLater,
      `${maxRooms} documents are open`,
    )
  }

  /**
   * Reads the document and makes its room. In a cluster the room hears the other nodes' updates
   * from before the read on, and applies those the read missed before anyone joins it.
   */
  private load(name: string, waiters: Connection[]): Loading {
    const { store, relay } = this.options
    const read = relay ? relay.open(name).then(() => store.load(name)) : store.load(name)
    const room = read.then(
      async (stored) => {
        // Those waiting get the document from the stored bytes while it is built, so opening it
        // cold costs what opening it warm does (those who come meanwhile get the same bytes from
        // the room's snapshot once it is built).
        const answered = answerFromStore(waiters, stored.updates)
        this.options.stats.answeredFromStore += answered.size
        let doc: Y.Doc
        try {
          doc = await this.options.builder.build(stored.updates)
        } catch (error) {
          this.loading.delete(name)
          this.failLoad(name, waiters, error)
          return null
        }
        this.loading.delete(name)
        const loaded = new Room(name, stored.updates, doc, this.options)
        this.rooms.set(name, loaded)
        relay?.attach(loaded)
        this.events.onLoaded(loaded)
        // Synchronously with the insertion: no unload can slip in between.
        if (loading.holds > 0) this.holds.set(loaded, loading.holds)
        for (const waiter of waiters) if (waiter.isOpen) loaded.join(waiter, answered.has(waiter))
        if (this.idle(loaded)) void this.unload(loaded)
        return loaded
      },
      (error: unknown) => {
        this.loading.delete(name)
        this.failLoad(name, waiters, error)
        return null
      },
    )
    const loading: Loading = { waiters, holds: 0, room }
    this.loading.set(name, loading)
    this.loads.add(room)
    void room.finally(() => this.loads.delete(room))
    return loading
  }

  private failLoad(name: string, waiters: readonly Connection[], error: unknown): void {
    this.options.relay?.close(name)
    this.events.onLoadFailed(name, error)
    for (const waiter of waiters) waiter.close(CloseCode.InternalError, 'document could not be loaded')
  }
}

/**
 * Answers, from the stored bytes, the sync step 1 of the clients waiting for a large document to
 * load that sent it: for a compacted document (one record), a fresh client gets the stored state
 * as it is, a client with state the difference Yjs computes from it. The room sends them, when
 * they join, what changed since the store was read. Returns the connections answered.
 */
function answerFromStore(waiters: readonly Connection[], stored: readonly Uint8Array[]): Set<Connection> {
  const answered = new Set<Connection>()
  // Compacted documents only (rooms compact as they unload); records appended since (after a
  // crash) are merged by building the room.
  const state = stored.length === 1 ? (stored[0] as Uint8Array) : null
  if (!state || state.byteLength < SLICED_BYTES) return answered
  for (const waiter of waiters) {
    const stateVector = waiter.isOpen ? waiter.takeSyncStep1() : null
    if (stateVector === null) continue
    if (isEmptyStateVector(stateVector)) {
      waiter.send(encodeSyncStep2(state))
    } else {
      try {
        waiter.send(encodeSyncStep2(Y.diffUpdate(state, stateVector)))
      } catch (cause) {
        waiter.fail(invalidPayload('invalid state vector', cause))
        continue
      }
    }
    answered.add(waiter)
  }
  return answered
}
