import type { Logger } from 'pino'
import type * as Y from 'yjs'
import { SLICED_BYTES } from './builder.js'
import type { Connection } from './connection.js'
import { CloseCode, ConnectionError } from './errors.js'
import { ReadingRoom } from './reading-room.js'
import { Room, type RoomOptions } from './room.js'

export interface RoomsEvents {
  /** A document came into memory: a room, or a reading room (a room once built from it is not told). */
  onLoaded(name: string): void
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
 * arriving meanwhile keeps it alive. A large document is served from its stored state (a
 * ReadingRoom) until a message or a task needs it built.
 */
export class Rooms {
  private readonly rooms = new Map<string, Room>()
  private readonly reading = new Map<string, ReadingRoom>()
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

  /** Documents served from their stored state, not built. */
  get readingCount(): number {
    return this.reading.size
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
    const present =
      (this.rooms.get(name) ?? this.reading.get(name))?.connections.size ??
      this.loading.get(name)?.waiters.length ??
      0
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
    if (this.enter(connection)) return
    const full = this.fullError()
    if (full) {
      connection.fail(full)
      return
    }
    this.load(name, [connection])
  }

  /** Joins `connection` to its document in memory or on its way; false when there is none. */
  private enter(connection: Connection): boolean {
    const name = connection.room
    const room = this.rooms.get(name) ?? this.reading.get(name)
    if (room) {
      room.join(connection)
      return true
    }
    const loading = this.loading.get(name)
    loading?.waiters.push(connection)
    return loading !== undefined
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
      const reading = this.reading.get(name)
      let loading = reading ? this.wake(reading) : this.loading.get(name)
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
    const reading = this.reading.get(name)
    if (reading) {
      this.close(reading)
      for (const connection of [...reading.connections]) connection.fail(error)
      return
    }
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
    const reading = this.reading.get(connection.room)
    if (reading) {
      reading.leave(connection)
      if (reading.connections.size === 0) this.close(reading)
      return
    }
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
    if (maxRooms === 0 || this.rooms.size + this.reading.size + this.loading.size < maxRooms) return null
    return new ConnectionError(
      'TANDEM_ERR_TOO_MANY_ROOMS',
      CloseCode.TryAgainLater,
      `${maxRooms} documents are open`,
    )
  }

  /** Reads the document and opens it: as a reading room when it is large, else as a room. */
  private load(name: string, waiters: Connection[]): Loading {
    const { store, relay } = this.options
    // In a cluster the room hears the other nodes' updates from before the read on.
    const read = relay ? relay.open(name).then(() => store.load(name)) : store.load(name)
    const loading: Loading = {
      waiters,
      holds: 0,
      room: read.then(
        (stored) => this.open(name, stored.updates, loading),
        (error: unknown) => {
          this.loading.delete(name)
          this.failLoad(name, waiters, error)
          return null
        },
      ),
    }
    this.track(name, loading)
    return loading
  }

  /**
   * A large compacted document becomes a reading room: its clients get it from the stored bytes
   * at once, and it is built only when a message needs it, or at once for a waiting task or in a
   * cluster (the other nodes' updates need a document to be applied to). Any other is built.
   */
  private open(name: string, updates: readonly Uint8Array[], loading: Loading): Promise<Room | null> {
    const state = updates.length === 1 ? (updates[0] as Uint8Array) : null
    if (!state || state.byteLength < SLICED_BYTES) return this.build(name, updates, loading, null)
    this.loading.delete(name)
    const reading = new ReadingRoom(name, state, this.options, this.options.builder, (woken) =>
      this.wake(woken),
    )
    this.reading.set(name, reading)
    this.events.onLoaded(name)
    // A waiter's queued change may wake it meanwhile: then the rest wait for the room.
    for (const waiter of loading.waiters) if (waiter.isOpen) this.enter(waiter)
    if (this.reading.get(name) !== reading) return (this.loading.get(name) as Loading).room
    if (loading.holds > 0 || this.options.relay) return this.wake(reading, loading.holds).room
    if (reading.connections.size === 0) this.close(reading)
    return Promise.resolve(null)
  }

  /** Builds the room of a reading room, which hands over its connections and their presence. */
  private wake(reading: ReadingRoom, holds = 0): Loading {
    const { name } = reading
    this.reading.delete(name)
    const loading: Loading = {
      waiters: [...reading.connections],
      holds,
      room: Promise.resolve().then(() => this.build(name, [reading.state], loading, reading)),
    }
    this.track(name, loading)
    return loading
  }

  /**
   * Builds the document and makes its room; in a cluster, it applies the other nodes' updates the
   * read missed before anyone joins it. `from`: the reading room it replaces.
   */
  private async build(
    name: string,
    updates: readonly Uint8Array[],
    loading: Loading,
    from: ReadingRoom | null,
  ): Promise<Room | null> {
    let doc: Y.Doc
    try {
      doc = await this.options.builder.build(updates)
    } catch (error) {
      this.loading.delete(name)
      from?.destroy()
      this.failLoad(name, loading.waiters, error)
      return null
    }
    this.loading.delete(name)
    const room = new Room(name, updates, doc, this.options, from ?? undefined)
    this.rooms.set(name, room)
    this.options.relay?.attach(room)
    if (!from) this.events.onLoaded(name)
    // Synchronously with the insertion: no unload can slip in between.
    if (loading.holds > 0) this.holds.set(room, loading.holds)
    // A reading room's people too: they were answered, but may not have had a sync step 1.
    for (const waiter of loading.waiters) if (waiter.isOpen) room.join(waiter)
    if (this.idle(room)) void this.unload(room)
    return room
  }

  private track(name: string, loading: Loading): void {
    this.loading.set(name, loading)
    this.loads.add(loading.room)
    void loading.room.finally(() => this.loads.delete(loading.room))
  }

  /** Drops a reading room (nothing to write: it changed nothing). */
  private close(reading: ReadingRoom): void {
    this.reading.delete(reading.name)
    reading.destroy()
    this.options.relay?.close(reading.name)
    this.events.onUnloaded(reading.name)
  }

  private failLoad(name: string, waiters: readonly Connection[], error: unknown): void {
    this.options.relay?.close(name)
    this.events.onLoadFailed(name, error)
    for (const waiter of waiters) waiter.close(CloseCode.InternalError, 'document could not be loaded')
  }
}
