import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { inspectState, KnownState } from '../../server/stored-state.js'

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

/** A long edited document: edits at random places by two clients, a quarter of them deletions. */
function fragmented(edits: number): Y.Doc[] {
  const docs = [new Y.Doc(), new Y.Doc()]
  let seed = 7
  const random = () => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  for (let i = 0; i < edits; i++) {
    const text = (docs[i % 2] as Y.Doc).getText('t')
    if (text.length > 10 && random() < 0.25) text.delete(Math.floor(random() * (text.length - 3)), 3)
    else text.insert(Math.floor(random() * text.length), 'ab')
    if (i % 50 === 0) {
      Y.applyUpdate(docs[0] as Y.Doc, Y.encodeStateAsUpdate(docs[1] as Y.Doc))
      Y.applyUpdate(docs[1] as Y.Doc, Y.encodeStateAsUpdate(docs[0] as Y.Doc))
    }
  }
  Y.applyUpdate(docs[0] as Y.Doc, Y.encodeStateAsUpdate(docs[1] as Y.Doc))
  return docs
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
    const known = new KnownState(facts)
    const client = holder(state)
    const reply = Y.encodeStateAsUpdate(client, facts.vector)
    // Not empty: the stock client sends its whole delete set.
    expect(reply.byteLength).toBeGreaterThan(2)
    expect(known.addsNothing(reply)).toBe(true)
    // Structs it has already (a client sending all it holds) add nothing either.
    expect(known.addsNothing(state)).toBe(true)
  })

  it('holds the delete set byte for byte as a client holding the state sends it, stored whole or merged', () => {
    const [doc] = fragmented(2_000) as [Y.Doc]
    const updates: Uint8Array[] = []
    const logged = new Y.Doc()
    logged.on('update', (update: Uint8Array) => updates.push(update))
    Y.applyUpdate(logged, Y.encodeStateAsUpdate(doc))
    const text = logged.getText('t')
    for (let i = 0; i < 200; i++) {
      if (i % 3 === 0) text.delete(i, 2)
      else text.insert(i * 2, 'x')
    }
    // Stored as a room writes it, and as a compaction merges the updates since.
    for (const state of [Y.encodeStateAsUpdate(logged), Y.mergeUpdates(updates)]) {
      const facts = inspectState(state)
      const reply = Y.encodeStateAsUpdate(holder(state), facts.vector)
      expect(Buffer.from(facts.deletions)).toEqual(Buffer.from(reply))
      expect(Y.decodeUpdate(facts.deletions).ds.clients.size).toBeGreaterThan(1)
      expect(new KnownState(facts).addsNothing(reply)).toBe(true)
    }
  })

  it('finds that a client holding an earlier state adds nothing (Yjs’s check, not the bytes)', () => {
    const { a } = stored()
    const earlier = Y.encodeStateAsUpdate(a)
    a.getText('t').delete(0, 3)
    const state = Y.encodeStateAsUpdate(a)
    const facts = inspectState(state)
    const reply = Y.encodeStateAsUpdate(holder(earlier), facts.vector)
    expect(Buffer.from(reply)).not.toEqual(Buffer.from(facts.deletions))
    expect(new KnownState(facts).addsNothing(reply)).toBe(true)
  })

  it('answers a client holding every struct with the delete set alone, byte for byte Yjs’s difference', () => {
    const [doc] = fragmented(1_000) as [Y.Doc]
    const state = Y.encodeStateAsUpdate(doc)
    const known = new KnownState(inspectState(state))
    const returning = holder(state)
    // An offline editor holds more than the state: its edits are its own to send.
    const offline = holder(state)
    offline.getText('t').insert(5, 'offline ')
    offline.getText('t').delete(40, 10)
    for (const client of [returning, offline]) {
      const vector = Y.encodeStateVector(client)
      const answer = known.answerHolder(Y.decodeStateVector(vector))
      expect(answer && Buffer.from(answer)).toEqual(Buffer.from(Y.diffUpdate(state, vector)))
    }
    // One that lacks a struct is left to the worker's diff.
    const { a } = stored()
    const partial = holder(Y.encodeStateAsUpdate(a))
    a.getText('t').insert(0, 'new')
    const lacking = new KnownState(inspectState(Y.encodeStateAsUpdate(a)))
    expect(lacking.answerHolder(Y.decodeStateVector(Y.encodeStateVector(partial)))).toBeNull()
    expect(lacking.answerHolder(new Map())).toBeNull()
  })

  it('finds a deletion, an insertion and a new client’s update to be changes', () => {
    const { state } = stored()
    const facts = inspectState(state)
    const known = new KnownState(facts)
    const deleting = holder(state)
    deleting.getText('t').delete(0, 1)
    expect(known.addsNothing(Y.encodeStateAsUpdate(deleting, facts.vector))).toBe(false)
    const inserting = holder(state)
    inserting.getText('t').insert(3, 'x')
    expect(known.addsNothing(Y.encodeStateAsUpdate(inserting, facts.vector))).toBe(false)
    const fresh = new Y.Doc()
    fresh.getMap('m').set('k', 1)
    expect(known.addsNothing(Y.encodeStateAsUpdate(fresh))).toBe(false)
  })

  it('finds bytes that are no update to be a change (the room built for them refuses them)', () => {
    const known = new KnownState(inspectState(stored().state))
    expect(known.addsNothing(new Uint8Array([1, 2, 3, 250, 250]))).toBe(false)
  })
})
