import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { dropPending, hasPending, pendingBytes } from '../../server/pending.js'

/**
 * Pins what server/pending.ts reads of Yjs internals (`doc.store.pendingStructs/pendingDs`): if a
 * Yjs upgrade changes them, this fails before the room's bound on held-back updates silently does.
 */
describe('updates held back for missing changes', () => {
  /** Two edits by one client: the second depends on the first. */
  function twoEdits() {
    const source = new Y.Doc()
    source.getText('t').insert(0, 'first')
    const first = Y.encodeStateAsUpdate(source)
    const before = Y.encodeStateVector(source)
    source.getText('t').insert(5, ' second')
    source.getText('t').delete(0, 1)
    return { first, second: Y.encodeStateAsUpdate(source, before) }
  }

  it('are seen, measured and dropped, and a drop leaves the document as it was', () => {
    const { first, second } = twoEdits()
    const doc = new Y.Doc()
    expect(hasPending(doc)).toBe(false)
    expect(pendingBytes(doc)).toBe(0)
    Y.applyUpdate(doc, second)
    expect(hasPending(doc)).toBe(true)
    expect(pendingBytes(doc)).toBeGreaterThan(0)
    expect(doc.getText('t').toString()).toBe('')
    dropPending(doc)
    expect(hasPending(doc)).toBe(false)
    expect(pendingBytes(doc)).toBe(0)
    Y.applyUpdate(doc, first)
    expect(doc.getText('t').toString()).toBe('first')
  })

  it('are applied by Yjs once what they wait for arrives', () => {
    const { first, second } = twoEdits()
    const doc = new Y.Doc()
    Y.applyUpdate(doc, second)
    Y.applyUpdate(doc, first)
    expect(hasPending(doc)).toBe(false)
    expect(doc.getText('t').toString()).toBe('irst second')
  })
})
