import * as Y from 'yjs'
import { encodeUpdate } from '../protocol/wire.js'
import type { Connection } from './connection.js'

/** Where an outbox's frames go. */
export interface OutboxTarget {
  /** Sends `frame` to `to`, or (`to` null) to every connection of the room but `except`. */
  deliver(frame: Uint8Array, to: Connection | null, except: Connection | null): void
  /** Runs `release`, which delivers what one completed write held back, as one burst. */
  releasing(release: () => void): void
}

/** A frame waiting for the store write it depends on. */
interface Held {
  readonly frame: Uint8Array
  /** The document update a relayed frame carries (`null` for a reply to one connection). */
  readonly update: Uint8Array | null
  /** The write batch (outbox-local number) that must complete first. */
  readonly batch: number
  readonly to: Connection | null
  readonly except: Connection | null
}

/** Most updates merged into one relayed frame (merging costs more than linear time in their number). */
const MAX_MERGED = 16

/**
 * A room's durable outbox: frames that carry document content (relayed updates, sync replies)
 * leave only once the store write they depend on has completed, in the order they were sent. So
 * whatever any client has seen is stored.
 *
 * Each store append the room makes is followed (`follow`); appends made in one turn share one
 * write, and so one batch. A frame sent while a batch is outstanding waits for the latest batch;
 * one sent while none is goes at once. A failed write releases its frames too: collaboration goes
 * on, and the room's retry rewrites the update (no "saved" acknowledgement until then).
 */
export class Outbox {
  /** Number of the latest write followed, and of the latest one completed. */
  private batch = 0
  private settled = 0
  private lastWrite: Promise<void> | null = null
  private readonly held: Held[] = []

  constructor(private readonly target: OutboxTarget) {}

  /** Follows a store write; returns false when it is the write already followed (same batch). */
  follow(written: Promise<void>): boolean {
    if (written === this.lastWrite) return false
    const batch = ++this.batch
    this.lastWrite = written
    const done = () => this.completed(batch)
    written.then(done, done)
    return true
  }

  /**
   * Sends `frame` once every write followed so far has completed (at once when they have).
   * `update`: the document update it relays (lets consecutive ones be merged); null for a reply.
   */
  send(frame: Uint8Array, update: Uint8Array | null, to: Connection | null, except: Connection | null): void {
    if (this.settled === this.batch) this.target.deliver(frame, to, except)
    else this.held.push({ frame, update, batch: this.batch, to, except })
  }

  private completed(batch: number): void {
    this.settled = batch
    if (this.held.length === 0 || (this.held[0] as Held).batch > batch) return
    const later = this.held.findIndex((h) => h.batch > batch)
    const released = this.held.splice(0, later < 0 ? this.held.length : later)
    this.target.releasing(() => this.release(released))
  }

  /**
   * Sends what a write made durable, in order. Updates relayed one after another go out merged,
   * up to MAX_MERGED at a time: a busy room's clients apply one transaction (and redraw once)
   * instead of one per edit. A merge goes to its authors too, unless all are one author's: Yjs
   * skips what a client already has.
   */
  private release(released: readonly Held[]): void {
    for (let i = 0; i < released.length; ) {
      const { frame, update, to, except } = released[i] as Held
      let end = i + 1
      if (update) while (end - i < MAX_MERGED && released[end]?.update) end++
      if (end - i === 1) {
        this.target.deliver(frame, to, except)
      } else {
        const run = released.slice(i, end)
        const author = run.every((h) => h.except === except) ? except : null
        this.target.deliver(
          encodeUpdate(Y.mergeUpdates(run.map((h) => h.update as Uint8Array))),
          null,
          author,
        )
      }
      i = end
    }
  }
}
