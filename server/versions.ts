/**
 * The Yjs side of version history, pure: what a version stores and how a version's state is
 * rebuilt. A version stores a *delta*: the structs added since the previous version and the
 * deletions made since it, nothing else. So history costs about what was typed and deleted,
 * whatever the number of versions, and a version's state is the merge of the deltas up to it.
 *
 * Why exact: every struct of the document at version k is in delta k (if added since version
 * k-1, as an item, or as a GC'd range if it was deleted again meanwhile) or in an earlier delta
 * (where it was still alive, so with its content); deletions only grow, so the union of the
 * deltas' deletions is version k's delete set. Content deleted between two versions is kept by
 * the earlier delta, which is what lets a version be shown, and a change be highlighted, even
 * though the live document (gc on) dropped it.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

/** Deleted ranges `[clock, clock + len)` per client, sorted and merged (as Yjs keeps a delete set). */
type Ranges = ReadonlyMap<number, readonly Range[]>
type Range = { readonly clock: number; readonly len: number }

/** The delta of a new version of `doc` (whose snapshot is `now`) over the previous one's snapshot. */
export function versionDelta(doc: Y.Doc, now: Y.Snapshot, previous: Y.Snapshot | null): Uint8Array {
  const since = previous ? Y.encodeStateVector(previous.sv) : undefined
  const full = Y.encodeStateAsUpdate(doc, since)
  if (!previous) return full
  // An update is its structs followed by the document's whole delete set. Keep the structs, and
  // write only the deletions made since the previous version in place of the whole set.
  const whole = encodeDeleteSet(now.ds.clients)
  const tail = full.subarray(full.byteLength - whole.byteLength)
  // Updates still waiting for missing changes are merged in by Yjs, and the layout differs: keep
  // the whole set then (larger, as correct).
  if (whole.byteLength > full.byteLength || !Buffer.from(tail).equals(Buffer.from(whole))) return full
  const added = encodeDeleteSet(subtractDeleteSets(now.ds.clients, previous.ds.clients))
  const delta = new Uint8Array(full.byteLength - whole.byteLength + added.byteLength)
  delta.set(full.subarray(0, full.byteLength - whole.byteLength))
  delta.set(added, full.byteLength - whole.byteLength)
  return delta
}

/** The state (a Yjs update, V1) of the version whose deltas, oldest first, are `deltas`. */
export function versionState(deltas: readonly Uint8Array[]): Uint8Array {
  if (deltas.length === 0) return Y.encodeStateAsUpdate(new Y.Doc())
  return deltas.length === 1 ? (deltas[0] as Uint8Array) : Y.mergeUpdates([...deltas])
}

/** A delete set written as Yjs writes one in a V1 update (clients in descending order). */
export function encodeDeleteSet(ds: Ranges): Uint8Array {
  const encoder = encoding.createEncoder()
  const clients = [...ds.entries()].filter(([, ranges]) => ranges.length > 0)
  clients.sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(encoder, clients.length)
  for (const [client, ranges] of clients) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, ranges.length)
    for (const { clock, len } of ranges) {
      encoding.writeVarUint(encoder, clock)
      encoding.writeVarUint(encoder, len)
    }
  }
  return encoding.toUint8Array(encoder)
}

/** The ranges of `now` that `before` does not cover (both sorted and merged, as Yjs keeps them). */
export function subtractDeleteSets(now: Ranges, before: Ranges): Map<number, Range[]> {
  const result = new Map<number, Range[]>()
  for (const [client, ranges] of now) {
    const left = subtractRanges(ranges, before.get(client) ?? [])
    if (left.length > 0) result.set(client, left)
  }
  return result
}

function subtractRanges(ranges: readonly Range[], minus: readonly Range[]): Range[] {
  const out: Range[] = []
  let j = 0
  for (const range of ranges) {
    let start = range.clock
    const end = range.clock + range.len
    while (j < minus.length && (minus[j] as Range).clock + (minus[j] as Range).len <= start) j++
    let k = j
    while (start < end && k < minus.length && (minus[k] as Range).clock < end) {
      const cut = minus[k] as Range
      if (cut.clock > start) out.push({ clock: start, len: cut.clock - start })
      start = Math.max(start, cut.clock + cut.len)
      k++
    }
    if (start < end) out.push({ clock: start, len: end - start })
  }
  return out
}
