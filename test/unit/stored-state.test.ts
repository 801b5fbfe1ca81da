import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { addsNothing, inspectState } from '../../server/stored-state.js'

/** A document of two clients with deletions across both, and its state. */
function stored() {
  const a = new Y.Doc()
  const b = new Y.Doc()
  a.getText('t').insert(0, 'hello world, from a')
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  b.getText('t').insert(5, ' there')
  b.getText('t').delete(0, 2)
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
  a.getText('t').delete(10, 4)
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  return { a, b, state: Y.encodeStateAsUpdate(a) }
}

/** A client holding `state`, which answers a server's sync step 1 like the stock provider. */
function holder(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  return doc
}

describe('what a reading room knows of a stored state', () => {
  it('reads the state vector Yjs reads', () => {
    const { state } = stored()
    const facts = inspectState(state)
    expect(Y.decodeStateVector(facts.vector)).toEqual(
      Y.decodeStateVector(Y.encodeStateVectorFromUpdate(state)),
    )
  })

  it('finds that a client holding the document adds nothing with its delete set', () => {
    const { state } = stored()
    const facts = inspectState(state)
    const client = holder(state)
    const reply = Y.encodeStateAsUpdate(client, facts.vector)
    // Not empty: the stock client sends its whole delete set.
    expect(reply.byteLength).toBeGreaterThan(2)
    expect(addsNothing(reply, facts)).toBe(true)
    // Structs it has already (a client sending all it holds) add nothing either.
    expect(addsNothing(state, facts)).toBe(true)
  })

  it('finds a deletion, an insertion and a new client’s update to be changes', () => {
    const { state } = stored()
    const facts = inspectState(state)
    const deleting = holder(state)
    deleting.getText('t').delete(0, 1)
    expect(addsNothing(Y.encodeStateAsUpdate(deleting, facts.vector), facts)).toBe(false)
    const inserting = holder(state)
    inserting.getText('t').insert(3, 'x')
    expect(addsNothing(Y.encodeStateAsUpdate(inserting, facts.vector), facts)).toBe(false)
    const fresh = new Y.Doc()
    fresh.getMap('m').set('k', 1)
    expect(addsNothing(Y.encodeStateAsUpdate(fresh), facts)).toBe(false)
  })

  it('finds bytes that are no update to be a change (the room built for them refuses them)', () => {
    const facts = inspectState(stored().state)
    expect(addsNothing(new Uint8Array([1, 2, 3, 250, 250]), facts)).toBe(false)
  })
})
