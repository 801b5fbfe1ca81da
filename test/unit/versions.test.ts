import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeDeleteSet, subtractDeleteSets, versionDelta, versionState } from '../../server/versions.js'

/** A seeded pseudo-random generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
}

/** Edits `doc` with `count` random inserts and deletes (a quarter deletions) at random places. */
function edit(doc: Y.Doc, next: () => number, count: number): void {
  const text = doc.getText('t')
  for (let i = 0; i < count; i++) {
    if (text.length > 0 && next() < 0.25) text.delete(Math.floor(next() * text.length), 1)
    else
      text.insert(Math.floor(next() * (text.length + 1)), String.fromCharCode(97 + Math.floor(next() * 26)))
  }
}

interface Recorded {
  /** The document as edited, after the last version. */
  readonly live: Y.Doc
  readonly deltas: Uint8Array[]
  readonly texts: string[]
  readonly snapshots: Y.Snapshot[]
}

/** Cuts `versions` versions of a document edited between them, from two clients taking turns. */
function record(versions: number, editsPerVersion: number, seed = 1): Recorded {
  const next = random(seed)
  const doc = new Y.Doc()
  const other = new Y.Doc()
  doc.on('update', (update: Uint8Array) => Y.applyUpdate(other, update))
  other.on('update', (update: Uint8Array) => Y.applyUpdate(doc, update))
  const recorded: Recorded = { live: doc, deltas: [], texts: [], snapshots: [] }
  let previous: Y.Snapshot | null = null
  for (let v = 0; v < versions; v++) {
    edit(v % 2 === 0 ? doc : other, next, editsPerVersion)
    const now = Y.snapshot(doc)
    recorded.deltas.push(versionDelta(doc, now, previous))
    recorded.texts.push(doc.getText('t').toString())
    recorded.snapshots.push(now)
    previous = now
  }
  return recorded
}

function textOf(state: Uint8Array, gc = true): Y.Doc {
  const doc = new Y.Doc({ gc })
  Y.applyUpdate(doc, state)
  return doc
}

describe('version deltas', () => {
  it('rebuild every version exactly from the deltas up to it', () => {
    const { deltas, texts } = record(40, 60)
    for (let k = 0; k < deltas.length; k++) {
      expect(
        textOf(versionState(deltas.slice(0, k + 1)))
          .getText('t')
          .toString(),
      ).toBe(texts[k])
    }
  })

  it('keep what was deleted after a version, so that version can be shown from a later one', () => {
    const { deltas, texts, snapshots } = record(12, 80, 7)
    for (let k = 1; k < deltas.length; k++) {
      const later = textOf(versionState(deltas.slice(0, k + 1)), false)
      const earlier = Y.createDocFromSnapshot(later, snapshots[k - 1] as Y.Snapshot)
      expect(earlier.getText('t').toString()).toBe(texts[k - 1])
    }
  })

  it('store only the deletions made since the previous version, not the whole delete set each time', () => {
    const { deltas, live } = record(120, 200, 3)
    const wholeDeleteSet = encodeDeleteSet(Y.snapshot(live).ds.clients).byteLength
    const total = deltas.reduce((sum, delta) => sum + delta.byteLength, 0)
    // 24,000 edits, 120 versions: with the whole delete set in every version, history would cost
    // 120 times it; the deltas add up to about the live document itself.
    expect(wholeDeleteSet).toBeGreaterThan(5_000)
    expect(total).toBeLessThan(1.25 * Y.encodeStateAsUpdate(live).byteLength)
  }, 30_000)

  it('an unchanged document makes an empty delta', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'same')
    const first = Y.snapshot(doc)
    const delta = versionDelta(doc, Y.snapshot(doc), first)
    // No struct, no deletion: zero clients in each section.
    expect([...delta]).toEqual([0, 0])
  })
})

describe('delete set subtraction', () => {
  const ranges = (...pairs: [number, number][]) => pairs.map(([clock, len]) => ({ clock, len }))

  it.each([
    ['nothing before', ranges([0, 5]), ranges(), ranges([0, 5])],
    ['all of it before', ranges([0, 5]), ranges([0, 5]), ranges()],
    ['the middle before', ranges([0, 10]), ranges([3, 2]), ranges([0, 3], [5, 5])],
    ['overlapping edges', ranges([2, 6], [10, 4]), ranges([0, 3], [7, 4]), ranges([3, 4], [11, 3])],
    [
      'a range grown at both ends',
      ranges([0, 20]),
      ranges([5, 5], [12, 1]),
      ranges([0, 5], [10, 2], [13, 7]),
    ],
  ])('%s', (_name, now, before, expected) => {
    const result = subtractDeleteSets(new Map([[1, now]]), new Map([[1, before]]))
    expect(result.get(1) ?? []).toEqual(expected)
  })

  it('encodes a delete set byte for byte as Yjs writes it in an update', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'abcdefghij')
    doc.getText('t').delete(2, 3)
    doc.getText('t').delete(0, 1)
    const update = Y.encodeStateAsUpdate(doc)
    const ds = encodeDeleteSet(Y.snapshot(doc).ds.clients)
    expect([...update.subarray(update.byteLength - ds.byteLength)]).toEqual([...ds])
  })
})
