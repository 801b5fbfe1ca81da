/**
 * Versioned, order-preserving binary keys for the LevelDB store.
 *
 * Layout: `[version][kind][escaped name][0x00 0x01]` then, for update records, the sequence number
 * as 8 bytes big-endian. Escaping `0x00` as `0x00 0xFF` keeps every name's key range disjoint from
 * every other name's (a name can contain any character), and big-endian sequence numbers make
 * LevelDB's byte order the append order.
 */

export const KEY_VERSION = 1
const KIND_JOURNAL = 0x6a // 'j'
const KIND_META = 0x6d // 'm'
const KIND_UPDATE = 0x75 // 'u'
const KIND_VERSION = 0x76 // 'v': a version's record (time, name, authors), by version number
const KIND_DELTA = 0x64 // 'd': a version's delta, by version number
const KIND_HEAD = 0x68 // 'h': the snapshot of a document's latest version
const TERMINATOR = [0x00, 0x01] as const
const SEQ_BYTES = 8

function escapeName(name: string): number[] {
  const out: number[] = []
  for (const byte of Buffer.from(name, 'utf8')) {
    out.push(byte)
    if (byte === 0x00) out.push(0xff)
  }
  return out
}

function prefix(kind: number, name: string): number[] {
  return [KEY_VERSION, kind, ...escapeName(name), ...TERMINATOR]
}

/** Key of the record that names the last journal segment whose writes LevelDB has. */
export function journalKey(): Buffer {
  return Buffer.from([KEY_VERSION, KIND_JOURNAL])
}

/** Key of one document's metadata record. */
export function metaKey(name: string): Buffer {
  return Buffer.from(prefix(KIND_META, name))
}

/** Key of update record `seq` (a safe integer ≥ 0) of document `name`. */
export function updateKey(name: string, seq: number): Buffer {
  return updateKeyAt(updateKeyPrefix(name), seq)
}

/** The part of `name`'s update keys before the sequence number; computed once per document. */
export function updateKeyPrefix(name: string): Buffer {
  return Buffer.from(prefix(KIND_UPDATE, name))
}

/** Key of update record `seq` under a prefix from `updateKeyPrefix`. */
export function updateKeyAt(head: Buffer, seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`sequence number out of range: ${seq}`)
  const key = Buffer.allocUnsafe(head.length + SEQ_BYTES)
  head.copy(key, 0)
  key.writeUInt32BE(Math.floor(seq / 2 ** 32), head.length)
  key.writeUInt32BE(seq % 2 ** 32, head.length + 4)
  return key
}

/** `[gte, lt)` bounds that cover exactly the update records of `name`. */
export function updateRange(name: string): { gte: Buffer; lt: Buffer } {
  return rangeOf(KIND_UPDATE, name)
}

/** Key of version `id` (1, 2, …) of document `name`: its record. */
export function versionKey(name: string, id: number): Buffer {
  return updateKeyAt(Buffer.from(prefix(KIND_VERSION, name)), id)
}

/** Key of version `id` of document `name`: its delta. */
export function deltaKey(name: string, id: number): Buffer {
  return updateKeyAt(Buffer.from(prefix(KIND_DELTA, name)), id)
}

/** Key of the snapshot of document `name`'s latest version. */
export function headKey(name: string): Buffer {
  return Buffer.from(prefix(KIND_HEAD, name))
}

/** `[gte, lt)` bounds that cover exactly the version records of `name`. */
export function versionRange(name: string): { gte: Buffer; lt: Buffer } {
  return rangeOf(KIND_VERSION, name)
}

/** `[gte, lt)` bounds that cover the deltas of versions 1 to `upTo` of `name`. */
export function deltaRange(name: string, upTo: number): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from(prefix(KIND_DELTA, name)), lt: deltaKey(name, upTo + 1) }
}

function rangeOf(kind: number, name: string): { gte: Buffer; lt: Buffer } {
  const head = prefix(kind, name)
  const lt = Buffer.from(head)
  lt[lt.length - 1] = TERMINATOR[1] + 1
  return { gte: Buffer.from(head), lt }
}

/**
 * The first and last keys of `name`'s update range, which no record ever uses (no sequence number,
 * and one byte too many): written and deleted at once to make LevelDB rewrite the range.
 */
export function rangeMarkers(name: string): [Buffer, Buffer] {
  const head = Buffer.from(prefix(KIND_UPDATE, name))
  return [head, Buffer.concat([head, Buffer.alloc(SEQ_BYTES + 1, 0xff)])]
}

/** `[gte, lt)` bounds that cover every metadata record. */
export function metaRange(): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from([KEY_VERSION, KIND_META]), lt: Buffer.from([KEY_VERSION, KIND_META + 1]) }
}

/** The sequence number of an update key made by `updateKey` (or the number of a version key). */
export function seqOfUpdateKey(key: Uint8Array): number {
  const view = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
  const at = view.length - SEQ_BYTES
  return view.readUInt32BE(at) * 2 ** 32 + view.readUInt32BE(at + 4)
}

/** Whether `key` is a document's metadata record (one per stored document). */
export function isMetaKey(key: Uint8Array): boolean {
  return key[0] === KEY_VERSION && key[1] === KIND_META
}

/** The document name of a metadata key made by `metaKey`; throws on a key of another shape. */
export function nameOfMetaKey(key: Uint8Array): string {
  if (key[0] !== KEY_VERSION || key[1] !== KIND_META) throw new Error('not a metadata key')
  const bytes: number[] = []
  for (let i = 2; i < key.length; i++) {
    const byte = key[i]!
    if (byte === 0x00) {
      const next = key[i + 1]
      if (next === 0xff) {
        bytes.push(0x00)
        i++
        continue
      }
      if (next === TERMINATOR[1] && i + 2 === key.length) return Buffer.from(bytes).toString('utf8')
      throw new Error('malformed metadata key')
    }
    bytes.push(byte)
  }
  throw new Error('unterminated metadata key')
}
