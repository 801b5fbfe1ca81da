/**
 * What a reading room (reading-room.ts) knows of the stored state it serves, without building a
 * `Y.Doc`: its state vector, for the server's sync step 1, and what it holds, to tell whether a
 * client's update changes it. A client that holds the document answers the server's sync step 1
 * with its whole delete set even when it has nothing new: that must not cost a build.
 */
import * as Y from 'yjs'

export interface StateFacts {
  /** Per client, the clock its structs reach. */
  readonly clocks: Map<number, number>
  /** Its state vector, encoded. */
  readonly vector: Uint8Array
  /** Its delete set: per client, [clock, length] pairs in clock order, flat. */
  readonly deleted: Map<number, number[]>
}

/** Reads `state` (an update) once: tens of milliseconds for a large one. */
export function inspectState(state: Uint8Array): StateFacts {
  const { structs, ds } = Y.decodeUpdate(state)
  const clocks = new Map<number, number>()
  for (const struct of structs) {
    const { client, clock } = struct.id
    const end = clock + struct.length
    if (end > (clocks.get(client) ?? 0)) clocks.set(client, end)
  }
  const deleted = new Map<number, number[]>()
  for (const [client, items] of ds.clients) {
    const sorted = [...items].sort((a, b) => a.clock - b.clock)
    deleted.set(
      client,
      sorted.flatMap((item) => [item.clock, item.len]),
    )
  }
  return { clocks, vector: Y.encodeStateVector(clocks), deleted }
}

/**
 * Whether `update` adds nothing to the state `facts` describe: every struct it carries is there,
 * every deletion it carries is there. False for bytes that are no update.
 */
export function addsNothing(update: Uint8Array, facts: StateFacts): boolean {
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch {
    return false
  }
  for (const struct of decoded.structs) {
    if (struct.id.clock + struct.length > (facts.clocks.get(struct.id.client) ?? 0)) return false
  }
  for (const [client, items] of decoded.ds.clients) {
    const ranges = facts.deleted.get(client)
    if (!ranges) return false
    for (const item of items) if (!covered(ranges, item.clock, item.len)) return false
  }
  return true
}

/** Whether one of the sorted [clock, length] `ranges` covers [clock, clock + len). */
function covered(ranges: readonly number[], clock: number, len: number): boolean {
  // The last range starting at or before `clock` (binary search over the pairs).
  let low = 0
  let high = ranges.length / 2 - 1
  let found = -1
  while (low <= high) {
    const middle = (low + high) >> 1
    if ((ranges[middle * 2] as number) <= clock) {
      found = middle
      low = middle + 1
    } else high = middle - 1
  }
  if (found < 0) return false
  return (ranges[found * 2] as number) + (ranges[found * 2 + 1] as number) >= clock + len
}
