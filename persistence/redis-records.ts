/**
 * Replies of the Redis store's scripts, read into typed values, and a document read whole turned
 * into backup records. Pure: no Redis here.
 *
 * A backup (`DocStore.records()`, persistence/backup.ts) is the records of the LevelDB layout
 * (persistence/keys.ts), whatever store it comes from: `tandem backup` writes them into a data
 * directory a single server starts on as it is, so a cluster's documents can be backed up, and
 * moved to one node, with the tools that exist. One document's records are: its metadata, its
 * updates (the compacted state first, then the log's entries) numbered from 0, its versions,
 * their deltas and its head.
 */
import { deltaKey, headKey, metaKey, updateKey, versionKey } from './keys.js'
import { encodeMeta } from './meta.js'
import type { DocMeta, StoredRecord } from './store.js'

/** One entry of a document's log. */
export interface LogEntry {
  /** Its stream id (`<ms>-<seq>`), increasing in append order. */
  readonly id: string
  /** The Yjs update. */
  readonly update: Uint8Array
  /** The `nodeId` of the store that appended it. */
  readonly node: string
}

/** A document's metadata hash (null fields: absent). */
export interface MetaFields {
  /** Changes when the document is deleted and created again; null for a document never stored. */
  readonly gen: string | null
  /** The id of the last entry ever appended (`0-0` for none). */
  readonly last: string
  /** Every entry up to this id is compacted into the state (`0-0` for none). */
  readonly stateId: string
  readonly createdAt: number
  readonly updatedAt: number
  readonly bytes: number
  readonly records: number
  readonly updates: number
}

/** A malformed reply: the keys were written by something else, or by another layout. */
export class ReplyError extends Error {
  override readonly name = 'ReplyError'
}

export function asArray(reply: unknown, what: string): unknown[] {
  if (!Array.isArray(reply)) throw new ReplyError(`${what}: expected an array, got ${typeof reply}`)
  return reply
}

/** A bulk string reply as bytes; null for nil. */
export function asBytes(reply: unknown, what: string): Buffer | null {
  if (reply === null || reply === undefined) return null
  if (Buffer.isBuffer(reply)) return reply
  if (typeof reply === 'string') return Buffer.from(reply)
  throw new ReplyError(`${what}: expected a string, got ${typeof reply}`)
}

/** A bulk string reply as text; null for nil. */
export function asText(reply: unknown, what: string): string | null {
  return asBytes(reply, what)?.toString('utf8') ?? null
}

export function asInteger(reply: unknown, what: string): number {
  const n = typeof reply === 'number' ? reply : Number(asText(reply, what))
  if (!Number.isSafeInteger(n)) throw new ReplyError(`${what}: expected an integer, got ${String(reply)}`)
  return n
}

/** The fields the scripts read with HMGET, in their order (see redis-scripts.ts). */
export function parseMeta(reply: unknown): MetaFields {
  const [gen, last, stateId, createdAt, updatedAt, bytes, records, updates] = asArray(reply, 'metadata')
  const count = (value: unknown, what: string) => (value === null ? 0 : asInteger(value, what))
  return {
    gen: asText(gen, 'gen'),
    last: asText(last, 'last') ?? '0-0',
    stateId: asText(stateId, 'stateId') ?? '0-0',
    createdAt: count(createdAt, 'createdAt'),
    updatedAt: count(updatedAt, 'updatedAt'),
    bytes: count(bytes, 'bytes'),
    records: count(records, 'records'),
    updates: count(updates, 'updates'),
  }
}

/** Entries as XRANGE returns them: `[[id, [field, value, …]], …]`. */
export function parseEntries(reply: unknown): LogEntry[] {
  return asArray(reply, 'log').map((raw) => {
    const [id, fields] = asArray(raw, 'log entry')
    const flat = asArray(fields, 'log entry fields')
    let update: Buffer | null = null
    let node = ''
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = asText(flat[i], 'field')
      if (field === 'u') update = asBytes(flat[i + 1], 'update')
      else if (field === 'n') node = asText(flat[i + 1], 'node') ?? ''
    }
    const entryId = asText(id, 'entry id')
    if (entryId === null || update === null) throw new ReplyError('log entry without an id or an update')
    return { id: entryId, update, node }
  })
}

/** The public metadata of `name` from its hash; null for a document with no record. */
export function toDocMeta(name: string, meta: MetaFields): DocMeta | null {
  if (meta.gen === null || meta.records === 0) return null
  const { createdAt, updatedAt, bytes, records, updates } = meta
  return { name, createdAt, updatedAt, bytes, records, updates }
}

/** A document as the snapshot script reads it. */
export interface DocSnapshot {
  readonly meta: MetaFields
  readonly state: Uint8Array | null
  readonly entries: readonly LogEntry[]
  /** Version records as stored (JSON), oldest first. */
  readonly versions: readonly Uint8Array[]
  readonly deltas: readonly Uint8Array[]
  readonly head: Uint8Array | null
}

export function parseSnapshot(reply: unknown): DocSnapshot {
  const [meta, state, entries, versions, deltas, head] = asArray(reply, 'document')
  const list = (value: unknown, what: string) =>
    asArray(value, what).map((item) => asBytes(item, what) ?? Buffer.alloc(0))
  return {
    meta: parseMeta(meta),
    state: asBytes(state, 'state'),
    entries: parseEntries(entries),
    versions: list(versions, 'versions'),
    deltas: list(deltas, 'deltas'),
    head: asBytes(head, 'head'),
  }
}

/** The backup records of document `name` (see the top of this file). */
export function backupRecords(name: string, doc: DocSnapshot): StoredRecord[] {
  const updates = doc.state
    ? [doc.state, ...doc.entries.map((e) => e.update)]
    : doc.entries.map((e) => e.update)
  const out: StoredRecord[] = []
  if (doc.meta.gen !== null) {
    const { createdAt, updatedAt, updates: count } = doc.meta
    const bytes = updates.reduce((sum, u) => sum + u.byteLength, 0)
    out.push({
      key: metaKey(name),
      value: encodeMeta({
        createdAt,
        updatedAt,
        bytes,
        records: updates.length,
        updates: count,
        firstSeq: 0,
        nextSeq: updates.length,
        versions: doc.versions.length,
        metaAt: 0,
      }),
    })
  }
  updates.forEach((update, seq) => {
    out.push({ key: updateKey(name, seq), value: update })
  })
  doc.versions.forEach((record, i) => {
    out.push({ key: versionKey(name, i + 1), value: record })
    out.push({ key: deltaKey(name, i + 1), value: doc.deltas[i] ?? new Uint8Array(0) })
  })
  if (doc.head) out.push({ key: headKey(name), value: doc.head })
  return out
}
