import { describe, expect, it } from 'vitest'
import {
  emptyCounters,
  encodeMeta,
  encodeVersion,
  parseMeta,
  parseVersion,
  toMeta,
} from '../../persistence/meta.js'

describe('document metadata records', () => {
  it('round-trips every counter but metaAt (when it was written is this process’s business)', () => {
    const counters = {
      createdAt: 1,
      updatedAt: 2,
      bytes: 3,
      records: 4,
      updates: 5,
      firstSeq: 6,
      nextSeq: 7,
      versions: 8,
      metaAt: 123.4,
    }
    expect(parseMeta(encodeMeta(counters))).toEqual({ ...counters, metaAt: Number.NEGATIVE_INFINITY })
  })

  it('reads a record from before versions existed, and ignores what does not parse', () => {
    const old = Buffer.from(
      JSON.stringify({ createdAt: 10, updatedAt: 20, bytes: 30, records: 1, updates: 9 }),
    )
    expect(parseMeta(old)).toMatchObject({ createdAt: 10, records: 1, updates: 9, versions: 0 })
    const odd = Buffer.from(JSON.stringify({ bytes: -1, records: 1.5, updates: '3', versions: 2 }))
    expect(parseMeta(odd)).toEqual({ ...emptyCounters(), versions: 2 })
    expect(parseMeta(Buffer.from('not json'))).toEqual(emptyCounters())
  })

  it('shows the public part', () => {
    const counters = { ...emptyCounters(), createdAt: 1, updatedAt: 2, bytes: 3, records: 4, updates: 5 }
    expect(toMeta('team/notes', counters)).toEqual({
      name: 'team/notes',
      createdAt: 1,
      updatedAt: 2,
      bytes: 3,
      records: 4,
      updates: 5,
    })
  })
})

describe('version records', () => {
  it('round-trip, with and without names', () => {
    const record = {
      id: 3,
      at: 1_700_000_000_000,
      name: 'Draft',
      authors: [{ id: 'u1', name: 'Ada' }, { id: 'u2' }],
    }
    expect(parseVersion(encodeVersion(record))).toEqual(record)
    expect(parseVersion(encodeVersion({ ...record, name: null, authors: [] }))).toEqual({
      ...record,
      name: null,
      authors: [],
    })
  })
})
