/**
 * Typing updates a room has stored and relayed but not yet integrated into its Y.Doc.
 *
 * Integrating one keystroke costs a Yjs transaction of its own, and most of that is the
 * transaction's bookkeeping, not the keystroke: about 8 µs each, against about 3.5 µs each when
 * ten are integrated in one transaction. A busy room's keystrokes arrive one per event-loop turn,
 * so the room does not need its document for them: their bytes go to the store and to the other
 * clients as they came. Only an update that Yjs would integrate whole, holding nothing back, is
 * taken (`followsOn`); the room integrates the backlog in one transaction before anything reads
 * its document, when an update finds MAX_UPDATES waiting, and at the latest INTEGRATE_AFTER_MS
 * after the first.
 *
 * Larger batches keep paying on a busy server, where a room's document has left the CPU's caches
 * between two batches: in fan-out 20×10 a keystroke cost about 11.7 µs to integrate in batches of
 * 33 (one every 500 ms) and 5.4 µs in batches of 256.
 */
import * as Y from 'yjs'
import { hasPending } from './pending.js'
import type { DecodedUpdate } from './protocol.js'

/**
 * The longest an update waits to be integrated, in ms: a busy room fills MAX_UPDATES first (65
 * keystrokes a second take about 4 s), a quiet one integrates what little it has.
 */
const INTEGRATE_AFTER_MS = 5000
/** At most this many updates, and this many bytes of them, wait. */
const MAX_UPDATES = 256
const MAX_BYTES = 256 * 1024

/**
 * What an update taken does: it extends `client` up to `end`, or it only deletes.
 */
export type Follows = { readonly client: number; readonly end: number } | 'deletions'

/**
 * What `update` does when Yjs would integrate it whole on top of a document whose next clock for
 * each client is `known(client)`, holding nothing back; null when parts might wait for missing
 * changes, or it might repeat what the document has.
 *
 * Taken: the structs of one client (a client's edit), all items, starting exactly at its next
 * clock, each item's origins already in the document or earlier in the update, an item with no
 * origin naming its parent by root name (an item nested under another names that item, which must
 * hold a type: left to Yjs); and the ranges it deletes, in the document or the update. A deletion
 * alone is taken when the document has all it deletes: one repeated (two people deleting the
 * same word) changes nothing, and goes to the store and the other clients all the same.
 */
export function followsOn(decoded: DecodedUpdate, known: (client: number) => number): Follows | null {
  const { structs, ds } = decoded
  const first = structs[0]
  if (!first) return ds.clients.size > 0 && deletesKnown(ds, known) ? 'deletions' : null
  if (!(first instanceof Y.Item)) return null
  const client = first.id.client
  if (first.id.clock !== known(client)) return null
  // What this client's items may refer to: the document's, and its own earlier in the update.
  const upTo = (other: number, clock: number) => (other === client ? clock : known(other))
  let end = first.id.clock
  for (const struct of structs) {
    // (An empty item changes nothing.)
    if (!(struct instanceof Y.Item) || struct.id.client !== client || struct.length === 0) return null
    const { origin, rightOrigin, parent } = struct
    const { clock } = struct.id
    if (origin && origin.clock >= upTo(origin.client, clock)) return null
    if (rightOrigin && rightOrigin.clock >= upTo(rightOrigin.client, clock)) return null
    if (parent instanceof Y.ID) return null
    end = clock + struct.length
  }
  return deletesKnown(ds, (other) => upTo(other, end)) ? { client, end } : null
}

/** Whether every range `ds` deletes ends by `limit(client)`, its client's next clock. */
function deletesKnown(ds: DecodedUpdate['ds'], limit: (client: number) => number): boolean {
  for (const [client, ranges] of ds.clients) {
    const end = limit(client)
    // (An empty range at the next clock would wait as pending.)
    for (const range of ranges) if (range.len === 0 || range.clock + range.len > end) return false
  }
  return true
}

/**
 * A room's updates waiting to be integrated into `doc`, in the order they came. Each one taken
 * follows on the document and those before it, so integrating them in turn holds nothing back.
 */
export class Backlog {
  private readonly updates: Uint8Array[] = []
  private bytes = 0
  /** The next clock of each client the waiting updates extend. */
  private readonly clocks = new Map<number, number>()
  private timer: NodeJS.Timeout | null = null

  /**
   * `origin`: of the transaction that integrates the backlog. `onError`: told when Yjs fails to
   * integrate an update after all (the others are integrated; it is stored and was relayed).
   */
  constructor(
    private readonly doc: Y.Doc,
    private readonly origin: symbol,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Takes `update` (`decoded`: its decoding) to be integrated later, when it follows on the
   * document and the backlog (see `followsOn`) and the backlog has room; false when not, and then
   * the caller integrates the backlog and applies `update` itself.
   */
  take(update: Uint8Array, decoded: DecodedUpdate): boolean {
    if (this.updates.length >= MAX_UPDATES || this.bytes + update.byteLength > MAX_BYTES) return false
    if (hasPending(this.doc)) return false
    const follows = followsOn(decoded, this.known)
    if (follows === null) return false
    this.updates.push(update)
    this.bytes += update.byteLength
    if (follows !== 'deletions') this.clocks.set(follows.client, follows.end)
    if (!this.timer) {
      this.timer = setTimeout(this.integrate, INTEGRATE_AFTER_MS)
      this.timer.unref()
    }
    return true
  }

  /** A client's next clock, counting what waits. */
  private readonly known = (client: number): number =>
    this.clocks.get(client) ?? Y.getState(this.doc.store, client)

  /** Integrates what waits, in one transaction. */
  readonly integrate = (): void => {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.updates.length === 0) return
    const updates = this.updates.splice(0)
    this.bytes = 0
    this.clocks.clear()
    const failures: unknown[] = []
    try {
      this.doc.transact(() => {
        for (const update of updates) {
          try {
            // (Within the transaction: its origin is the backlog's.)
            Y.applyUpdate(this.doc, update)
          } catch (error) {
            failures.push(error)
          }
        }
      }, this.origin)
    } catch (error) {
      failures.push(error)
    }
    for (const error of failures) this.onError(error)
  }

  /** Stops the timer; what waits is dropped (it is stored). */
  destroy(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.updates.length = 0
  }
}
