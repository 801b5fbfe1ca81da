/**
 * What a store knows of one document's log, and how the reply of each write moves it: the
 * bookkeeping that lets a compaction trim exactly the entries its caller's document holds, while
 * other nodes append. Pure: no Redis here.
 *
 * - `position.included`: every entry up to this id (those trimmed since included) is in the
 *   caller's document (the room's, one per document per node). The first load() sets it to the
 *   last entry's id; a later load() leaves it (it may be a read for someone else, the HTTP API,
 *   while the room relies on the position); an append moves it to its own last id only if the
 *   entry just before its first was the one at `included` (nothing came between); markIncluded()
 *   moves it on for the cluster relay. It never moves back within a generation.
 * - `position.gen`: the document's generation, new each time it is created ('' when it does not
 *   exist): an id means something only within one generation.
 * - `failures > cleared` ("unsure"): an append failed (or may have: a timeout after it was sent), or
 *   the document was deleted under the caller, so its document may hold what no entry holds. Its
 *   next compaction then appends the state as an entry instead of replacing the compacted state.
 */
import { compareIds, ID_ZERO, nextId } from './redis-keys.js'

export interface Position {
  gen: string
  included: string
}

export interface Tracked {
  /** null: unknown (never loaded, or forgotten): compactions append, trimming nothing. */
  position: Position | null
  failures: number
  cleared: number
  /** The generation readSince() last saw. */
  readGen: string | null
}

/** What a compaction knew when its turn came (its state holds exactly that). */
export interface Capture {
  readonly position: Position | null
  readonly failures: number
  readonly unsure: boolean
}

export function capture(doc: Tracked): Capture {
  return {
    position: doc.position && { ...doc.position },
    failures: doc.failures,
    unsure: doc.failures > doc.cleared,
  }
}

/** The compaction script's arguments that come from `at`: known generation, included id, its successor, unsure. */
export function compactionArgs(at: Capture): [string, string, string, string] {
  const included = at.position?.included ?? ID_ZERO
  return [at.position?.gen ?? '?', included, nextId(included), at.unsure ? '1' : '0']
}

/**
 * After load(): the loader's document holds every entry up to `last`. Taken as the position when
 * there is none (or it was of another generation); otherwise kept, since another caller may hold
 * the document with less. Never clears "unsure" (that caller may hold more than the log).
 */
export function loaded(doc: Tracked, gen: string | null, last: string): void {
  const position = doc.position
  const current = gen ?? ''
  if (position && position.gen === current) return
  // Recreated since the position was taken: whoever held the old one holds what this one lacks.
  if (position && position.gen !== '') doc.failures++
  doc.position = { gen: current, included: last }
}

/** After delete(): the document does not exist, and the caller holds nothing of it. */
export function deleted(doc: Tracked): void {
  doc.position = { gen: '', included: ID_ZERO }
  doc.cleared = doc.failures
}

/** A write that failed, or may have. */
export function failed(doc: Tracked): void {
  doc.failures++
}

/** The append script's reply. */
export interface AppendReply {
  readonly gen: string
  /** The last entry id before this batch's. */
  readonly prev: string
  /** The id of this batch's last entry. */
  readonly last: string
  /** The batch created the document. */
  readonly created: boolean
}

export function appended(doc: Tracked, { gen, prev, last, created }: AppendReply): void {
  const position = doc.position
  if (created) {
    // Only this batch is in the log. A caller that held an earlier generation (or one the store
    // does not know of) may hold what this one lacks.
    if (position?.gen !== '') doc.failures++
    doc.position = { gen, included: last }
    return
  }
  if (!position) return
  if (position.gen !== gen) {
    // Deleted and created again meanwhile: what the caller held of the old one is not in it.
    if (position.gen !== '') doc.failures++
    doc.position = { gen, included: ID_ZERO }
    return
  }
  if (position.included === prev) position.included = last
}

/** The compaction script's reply (see redis-scripts.ts). */
export interface CompactReply {
  readonly mode: 'compacted' | 'appended' | 'dropped'
  readonly gen: string
  readonly prev: string
  /** The entry the state was appended as (mode `appended`). */
  readonly entry: string
  readonly created: boolean
}

export function compacted(
  doc: Tracked,
  at: Capture,
  { mode, gen, prev, entry, created }: CompactReply,
): void {
  const position = doc.position
  if (mode === 'compacted') {
    if (created && position?.gen === '') position.gen = gen
    return
  }
  if (mode !== 'appended') return
  // The whole document is an entry now: whatever it held that no entry held, one does.
  doc.cleared = Math.max(doc.cleared, at.failures)
  if (created) doc.position = { gen, included: entry }
  else if (position?.gen === gen && position.included === prev) position.included = entry
  else if (position?.gen !== gen) doc.position = { gen, included: ID_ZERO }
}

/**
 * The cluster relay applied every entry up to `id`: moves the position on, within the generation
 * its read saw; anything else is ignored (compactions then trim less, never more).
 */
export function included(doc: Tracked, id: string): void {
  const position = doc.position
  // No document (gen ''): nothing to include.
  if (!position || position.gen === '' || position.gen !== doc.readGen) return
  if (compareIds(id, position.included) > 0) position.included = id
}
