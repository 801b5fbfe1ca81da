/**
 * A large document, cut into updates that can be applied one event-loop turn at a time.
 *
 * Building a Y.Doc from a long, fragmented document takes one `Y.applyUpdate` of 100–200 ms,
 * during which every other room of the server waits. A worker thread (builder.ts) builds the
 * document once and cuts it here into slices of at most `maxStructs` structs, in an order where
 * every struct comes after those it refers to (its left and right origins, its parent), then the
 * delete set: applied in turn, each slice integrates at once (nothing waits as pending), and the
 * document they make is the document the stored updates make, byte for byte.
 *
 * This reads Yjs's struct store (`doc.store.clients`), which Yjs does not document: the tests in
 * test/unit/slices.test.ts pin it, comparing the result with Yjs's own for every kind of struct.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

type Struct = Y.Item | Y.GC

/** What `struct` refers to and must be integrated after: the IDs Yjs checks in `getMissing`. */
function dependencies(struct: Struct): Y.ID[] {
  if (!(struct instanceof Y.Item)) return []
  const ids: Y.ID[] = []
  if (struct.origin) ids.push(struct.origin)
  if (struct.rightOrigin) ids.push(struct.rightOrigin)
  if (!struct.origin && !struct.rightOrigin) {
    const parent = (struct.parent as Y.AbstractType<unknown> | null)?._item
    if (parent) ids.push(parent.id)
  }
  return ids
}

/**
 * Builds the document `updates` make and cuts it into slices of at most `maxStructs` structs
 * (the last one is the delete set). Null when the updates leave parts waiting for missing changes:
 * then the caller applies them as they are.
 */
export function sliceDocument(updates: readonly Uint8Array[], maxStructs: number): Uint8Array[] | null {
  const doc = new Y.Doc()
  doc.transact(() => {
    for (const update of updates) Y.applyUpdate(doc, update)
  })
  if (doc.store.pendingStructs || doc.store.pendingDs) return null
  const clients = doc.store.clients as Map<number, Struct[]>
  // Per client: the index of the next struct to cut, and the clock it starts at.
  const next = new Map<number, number>()
  const done = new Map<number, number>()
  let total = 0
  for (const [client, structs] of clients) {
    next.set(client, 0)
    done.set(client, (structs[0] as Struct).id.clock)
    total += structs.length
  }
  const slices: Uint8Array[] = []
  // The slice being cut: per client, the index of its first struct (its last is next - 1).
  let slice = new Map<number, number>()
  let count = 0
  const cut = () => {
    const encoder = new Y.UpdateEncoderV1()
    encoding.writeVarUint(encoder.restEncoder, slice.size)
    for (const [client, from] of slice) {
      const structs = clients.get(client) as Struct[]
      const to = next.get(client) as number
      encoding.writeVarUint(encoder.restEncoder, to - from)
      encoder.writeClient(client)
      encoding.writeVarUint(encoder.restEncoder, (structs[from] as Struct).id.clock)
      for (let i = from; i < to; i++) (structs[i] as Struct).write(encoder, 0)
    }
    encoding.writeVarUint(encoder.restEncoder, 0) // no deletions: they come last
    slices.push(encoder.toUint8Array())
    slice = new Map()
    count = 0
  }
  // Goals: emit `client`'s structs up to and including `clock`. Depth-first, without recursion
  // (a chain of references across clients can be as long as the document).
  const goals: { client: number; clock: number }[] = []
  for (const [client, structs] of clients) {
    const last = structs[structs.length - 1] as Struct
    goals.push({ client, clock: last.id.clock + last.length - 1 })
    while (goals.length > 0) {
      const goal = goals[goals.length - 1] as { client: number; clock: number }
      if ((done.get(goal.client) ?? 0) > goal.clock) {
        goals.pop()
        continue
      }
      const own = clients.get(goal.client)
      const index = next.get(goal.client) ?? 0
      const struct = own?.[index]
      // A reference to something the document does not hold: it would have been pending.
      if (!struct) return null
      const missing = dependencies(struct).find((id) => (done.get(id.client) ?? 0) <= id.clock)
      if (missing) {
        // Yjs integrated every struct after what it refers to, so this never loops; if it did,
        // the goals would outnumber the structs.
        if (missing.client === goal.client || goals.length > total) return null
        goals.push({ client: missing.client, clock: missing.clock })
        continue
      }
      if (!slice.has(goal.client)) slice.set(goal.client, index)
      next.set(goal.client, index + 1)
      done.set(goal.client, struct.id.clock + struct.length)
      if (++count >= maxStructs) cut()
    }
  }
  if (count > 0) cut()
  // The delete set, alone: an update with no structs, from the document's own state vector.
  slices.push(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))
  doc.destroy()
  return slices
}
