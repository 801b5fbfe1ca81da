import type { Logger } from 'pino'
import type { Connection } from './connection.js'
import { CloseCode, ConnectionError } from './errors.js'
import { Room, type RoomOptions } from './room.js'

export interface RoomsEvents {
  onLoaded(room: Room): void
  onUnloaded(name: string): void
  onLoadFailed(name: string, error: unknown): void
}

/**
 * Name → room. Concurrent first connections share one load; a room is unloaded once its last
 * connection left and its writes settled, and a connection arriving meanwhile keeps it alive.
 */
export class Rooms {
  private readonly rooms = new Map<string, Room>()
  /** Connections waiting for a room being loaded, by name. */
  private readonly loading = new Map<string, Connection[]>()
  private readonly loads = new Set<Promise<void>>()

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

  get(name: string): Room | undefined {
    return this.rooms.get(name)
  }

  values(): IterableIterator<Room> {
    return this.rooms.values()
  }

  /**
   * Joins `connection` to its room, loading the room first if needed. A full room or server closes
   * the connection with 1013 (the client retries later).
   */
  join(connection: Connection): void {
    const name = connection.room
    const { maxRooms, maxConnectionsPerRoom } = this.options
    const room = this.rooms.get(name)
    const waiting = this.loading.get(name)
    const present = room?.connections.size ?? waiting?.length ?? 0
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
      waiting.push(connection)
      return
    }
    if (maxRooms > 0 && this.rooms.size + this.loading.size >= maxRooms) {
      connection.fail(
        new ConnectionError(
          'TANDEM_ERR_TOO_MANY_ROOMS',
          CloseCode.TryAgainLater,
          `${maxRooms} documents are open`,
        ),
      )
      return
    }
    this.loading.set(name, [connection])
    const load = this.options.store.load(name).then(
      (stored) => {
        const waiters = this.loading.get(name) ?? []
        this.loading.delete(name)
        let loaded: Room
        try {
          loaded = new Room(name, stored.updates, this.options)
        } catch (error) {
          this.failLoad(name, waiters, error)
          return
        }
        this.rooms.set(name, loaded)
        this.events.onLoaded(loaded)
        // Synchronously with the insertion: no unload can slip in between.
        for (const waiter of waiters) if (waiter.isOpen) loaded.join(waiter)
        if (loaded.connections.size === 0) void this.unload(loaded)
      },
      (error: unknown) => {
        const waiters = this.loading.get(name) ?? []
        this.loading.delete(name)
        this.failLoad(name, waiters, error)
      },
    )
    this.loads.add(load)
    void load.finally(() => this.loads.delete(load))
  }

  /** Removes `connection` from its room; unloads the room when it was the last one. */
  leave(connection: Connection): void {
    const room = this.rooms.get(connection.room)
    if (!room) return
    room.leave(connection)
    if (room.connections.size === 0) void this.unload(room)
  }

  /**
   * Persists and drops `room` unless a connection joins meanwhile. Shared by concurrent callers;
   * a room whose writes keep failing stays in memory (nothing it holds is dropped).
   */
  unload(room: Room): Promise<void> {
    room.unloading ??= (async () => {
      await room.persist()
      room.unloading = null
      if (room.connections.size > 0 || this.rooms.get(room.name) !== room) return
      if (room.hasUnsavedChanges) {
        this.options.log.error({ room: room.name }, 'room kept in memory: its changes could not be written')
        // The room retries its writes; try to unload again after that.
        setTimeout(() => {
          if (this.rooms.get(room.name) === room && room.connections.size === 0) void this.unload(room)
        }, this.options.persistRetryMs * 2).unref()
        return
      }
      this.rooms.delete(room.name)
      room.destroy()
      this.events.onUnloaded(room.name)
    })()
    return room.unloading
  }

  /** Waits for loads in progress, then persists and unloads every room without connections. */
  async drain(): Promise<void> {
    while (this.loads.size > 0) await Promise.all(this.loads)
    await Promise.all([...this.rooms.values()].map((room) => this.unload(room)))
  }

  private failLoad(name: string, waiters: readonly Connection[], error: unknown): void {
    this.events.onLoadFailed(name, error)
    for (const waiter of waiters) waiter.close(CloseCode.InternalError, 'document could not be loaded')
  }
}
