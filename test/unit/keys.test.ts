import { describe, expect, it } from 'vitest'
import {
  metaKey,
  metaRange,
  nameOfMetaKey,
  rangeMarkers,
  seqOfUpdateKey,
  updateKey,
  updateRange,
} from '../../persistence/keys.js'

const inRange = (key: Buffer, range: { gte: Buffer; lt: Buffer }) =>
  Buffer.compare(key, range.gte) >= 0 && Buffer.compare(key, range.lt) < 0

describe('store keys', () => {
  const names = ['a', 'a\u0000b', 'a/b', 'ab', 'A', '', 'ü', 'a\u0000', 'a\u0001']

  it('orders update keys of one document by sequence number', () => {
    const seqs = [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]
    const keys = seqs.map((seq) => updateKey('doc', seq))
    const sorted = [...keys].sort(Buffer.compare)
    expect(sorted).toEqual(keys)
    expect(keys.map(seqOfUpdateKey)).toEqual(seqs)
  })

  it("keeps every document's update range disjoint from every other name's", () => {
    for (const name of names) {
      const range = updateRange(name)
      for (const other of names) {
        for (const seq of [0, 7, Number.MAX_SAFE_INTEGER]) {
          expect(
            inRange(updateKey(other, seq), range),
            `${JSON.stringify(other)} in ${JSON.stringify(name)}`,
          ).toBe(other === name)
        }
      }
    }
  })

  it('round-trips names through metadata keys, all inside the metadata range', () => {
    for (const name of names) {
      expect(nameOfMetaKey(metaKey(name))).toBe(name)
      expect(inRange(metaKey(name), metaRange())).toBe(true)
      expect(inRange(updateKey(name, 0), metaRange())).toBe(false)
    }
  })

  it('puts the range markers first and last in the update range, apart from every record key', () => {
    for (const name of names) {
      const [first, last] = rangeMarkers(name)
      expect(inRange(first, updateRange(name)) && inRange(last, updateRange(name))).toBe(true)
      for (const seq of [0, 1, Number.MAX_SAFE_INTEGER]) {
        const key = updateKey(name, seq)
        expect(Buffer.compare(first, key)).toBe(-1)
        expect(Buffer.compare(key, last)).toBe(-1)
      }
    }
  })

  it('refuses sequence numbers a key cannot hold', () => {
    expect(() => updateKey('d', -1)).toThrow(RangeError)
    expect(() => updateKey('d', 1.5)).toThrow(RangeError)
    expect(() => updateKey('d', 2 ** 53)).toThrow(RangeError)
  })
})
