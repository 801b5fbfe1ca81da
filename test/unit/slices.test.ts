import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { hasPending } from '../../server/pending.js'
import { sliceDocument } from '../../server/slices.js'

/**
 * Three clients edit one document at random, exchanging their changes now and then, so that
 * structs refer to other clients' structs in every direction: rich text with formatting and
 * embeds in nested elements, a map of nested types, an array of binary and JSON values, with
 * deletions everywhere (and `gc` on, so deleted content is collected).
 */
function randomDocument(seed: number, edits: number): Y.Doc[] {
  const random = prng.create(seed)
  const docs = [1, 2, 3].map((clientID) => {
    const doc = new Y.Doc()
    doc.clientID = clientID
    return doc
  })
  const first = docs[0] as Y.Doc
  const fragment = first.getXmlFragment('prosemirror')
  for (let i = 0; i < 3; i++) {
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText()])
    fragment.push([paragraph])
  }
  first.getMap('meta').set('title', 'slices')
  first.getArray('list').push([1, 'two', { three: 3 }])
  const exchange = () => {
    for (const from of docs)
      for (const to of docs)
        if (from !== to) Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
  }
  exchange()
  for (let i = 0; i < edits; i++) {
    const doc = prng.oneOf(random, docs)
    const paragraphs = doc.getXmlFragment('prosemirror')
    const roll = prng.real53(random)
    if (roll < 0.6 && paragraphs.length > 0) {
      const paragraph = paragraphs.get(prng.uint32(random, 0, paragraphs.length - 1)) as Y.XmlElement
      const text = paragraph.get(0) as Y.XmlText
      if (text.length > 0 && prng.bool(random) && prng.bool(random)) {
        const at = prng.uint32(random, 0, text.length - 1)
        text.delete(at, Math.min(text.length - at, prng.uint32(random, 1, 4)))
      } else if (prng.real53(random) < 0.1) {
        text.insertEmbed(prng.uint32(random, 0, text.length), { image: `i${i}` })
      } else {
        const at = prng.uint32(random, 0, text.length)
        const attributes = prng.real53(random) < 0.2 ? { bold: true } : {}
        text.insert(at, prng.word(random, 1, 6), attributes)
        if (prng.real53(random) < 0.05 && text.length > at + 1) text.format(at, 1, { italic: true })
      }
    } else if (roll < 0.7) {
      const paragraph = new Y.XmlElement(prng.bool(random) ? 'paragraph' : 'heading')
      paragraph.setAttribute('level', String(prng.uint32(random, 1, 3)))
      paragraph.insert(0, [new Y.XmlText(prng.word(random, 0, 5))])
      paragraphs.insert(prng.uint32(random, 0, paragraphs.length), [paragraph])
    } else if (roll < 0.75 && paragraphs.length > 1) {
      paragraphs.delete(prng.uint32(random, 0, paragraphs.length - 1), 1)
    } else if (roll < 0.85) {
      const map = doc.getMap('meta')
      if (prng.bool(random)) map.set(`k${prng.uint32(random, 0, 9)}`, prng.word(random))
      else {
        const nested = new Y.Map<unknown>()
        nested.set('n', i)
        map.set(`nested${prng.uint32(random, 0, 3)}`, nested)
      }
    } else {
      const list = doc.getArray('list')
      if (list.length > 0 && prng.bool(random)) list.delete(prng.uint32(random, 0, list.length - 1), 1)
      else
        list.insert(prng.uint32(random, 0, list.length), [
          prng.bool(random) ? new Uint8Array([i % 256]) : { i },
        ])
    }
    if (prng.real53(random) < 0.05) exchange()
  }
  exchange()
  return docs
}

/** Applies `slices` in order to a new document, each alone, checking nothing ever waits. */
function applySlices(slices: readonly Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const slice of slices) {
    Y.applyUpdate(doc, slice)
    expect(hasPending(doc)).toBe(false)
  }
  return doc
}

describe('a document cut into slices', () => {
  for (const [seed, maxStructs] of [
    [1, 1],
    [2, 7],
    [3, 100],
    [4, 100_000],
  ] as const) {
    it(`rebuilds it byte for byte (seed ${seed}, ${maxStructs} structs per slice)`, () => {
      const [doc] = randomDocument(seed, 1500) as [Y.Doc]
      const state = Y.encodeStateAsUpdate(doc)
      const slices = sliceDocument([state], maxStructs)
      if (!slices) throw new Error('the document was not sliced')
      if (maxStructs < 100_000) expect(slices.length).toBeGreaterThan(2)
      const rebuilt = applySlices(slices)
      expect(Y.encodeStateAsUpdate(rebuilt)).toEqual(state)
      expect(rebuilt.getXmlFragment('prosemirror').toString()).toBe(
        doc.getXmlFragment('prosemirror').toString(),
      )
      expect(rebuilt.getMap('meta').toJSON()).toEqual(doc.getMap('meta').toJSON())
      expect(rebuilt.getArray('list').toJSON()).toEqual(doc.getArray('list').toJSON())
    })
  }

  it('is made from several stored updates like a room builds it from its records', () => {
    const source = new Y.Doc()
    const records: Uint8Array[] = []
    source.on('update', (update: Uint8Array) => records.push(update))
    const [edited] = randomDocument(5, 800) as [Y.Doc]
    Y.applyUpdate(source, Y.encodeStateAsUpdate(edited))
    source.getText('tail').insert(0, 'appended after the state')
    source.getText('tail').delete(0, 9)
    const slices = sliceDocument(records, 50)
    if (!slices) throw new Error('the document was not sliced')
    expect(Y.encodeStateAsUpdate(applySlices(slices))).toEqual(Y.encodeStateAsUpdate(source))
  })

  it('gives each slice at most the structs asked for', () => {
    const [doc] = randomDocument(6, 600) as [Y.Doc]
    const slices = sliceDocument([Y.encodeStateAsUpdate(doc)], 20) as Uint8Array[]
    for (const slice of slices.slice(0, -1)) {
      const { structs, ds } = Y.decodeUpdate(slice)
      expect(structs.length).toBeGreaterThan(0)
      expect(structs.length).toBeLessThanOrEqual(20)
      expect(ds.clients.size).toBe(0)
    }
    const last = Y.decodeUpdate(slices[slices.length - 1] as Uint8Array)
    expect(last.structs).toEqual([])
    expect(last.ds.clients.size).toBeGreaterThan(0)
  })

  it('is refused for updates that miss what they build on', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'first')
    const before = Y.encodeStateVector(doc)
    doc.getText('t').insert(5, ' second')
    expect(sliceDocument([Y.encodeStateAsUpdate(doc, before)], 10)).toBeNull()
  })
})
