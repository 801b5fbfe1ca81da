/**
 * What the store keeps about a document besides its records: its counters (the metadata record,
 * JSON) and its version records (JSON), with their encodings. Pure: no LevelDB here.
 */
import type { Author, DocMeta, VersionRecord } from './store.js'

/** A document's counters, as its metadata record stores them (and `metaAt`, which it does not). */
export interface Counters {
  createdAt: number
  updatedAt: number
  bytes: number
  records: number
  updates: number
  firstSeq: number
  nextSeq: number
  /** Its versions: the number of the latest (0 for none). */
  versions: number
  /** When its metadata record was last written (performance.now()). */
  metaAt: number
}

/** A copy of the counters of `state`. */
export function counters(state: Counters): Counters {
  const { createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq, versions, metaAt } = state
  return { createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq, versions, metaAt }
}

/** Counters of a document never written. */
export function emptyCounters(): Counters {
  return {
    createdAt: 0,
    updatedAt: 0,
    bytes: 0,
    records: 0,
    updates: 0,
    firstSeq: 0,
    nextSeq: 0,
    versions: 0,
    metaAt: Number.NEGATIVE_INFINITY,
  }
}

/** The metadata record of `state`. */
export function encodeMeta(state: Counters): Buffer {
  const { createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq, versions } = state
  return Buffer.from(
    JSON.stringify({ createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq, versions }),
  )
}

/** Counters read from a metadata record; fields that do not parse keep their empty value. */
export function parseMeta(value: Uint8Array): Counters {
  const state = emptyCounters()
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value).toString('utf8'))
  } catch {
    return state
  }
  if (typeof parsed !== 'object' || parsed === null) return state
  for (const field of [
    'createdAt',
    'updatedAt',
    'bytes',
    'records',
    'updates',
    'firstSeq',
    'nextSeq',
    'versions',
  ] as const) {
    const n = (parsed as Record<string, unknown>)[field]
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) state[field] = n
  }
  return state
}

/** The stored form of a version record. */
export function encodeVersion(record: VersionRecord): Buffer {
  return Buffer.from(JSON.stringify(record))
}

/** A stored version record; fields that do not parse read as absent. */
export function parseVersion(value: Uint8Array): VersionRecord {
  const parsed = JSON.parse(Buffer.from(value).toString('utf8')) as Partial<
    Record<keyof VersionRecord, unknown>
  >
  const authors = Array.isArray(parsed.authors) ? (parsed.authors as Author[]) : []
  return {
    id: Number(parsed.id),
    at: Number(parsed.at),
    name: typeof parsed.name === 'string' ? parsed.name : null,
    authors: authors.map((a) =>
      typeof a.name === 'string' ? { id: String(a.id), name: a.name } : { id: String(a.id) },
    ),
  }
}

/** The public metadata of document `name`. */
export function toMeta(name: string, { createdAt, updatedAt, bytes, records, updates }: Counters): DocMeta {
  return { name, createdAt, updatedAt, bytes, records, updates }
}
