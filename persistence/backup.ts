/**
 * Backups: a store's records (documents, versions, metadata) as one consistent point in time,
 * framed for a byte stream (HTTP), and written into a new LevelDB data directory that a server
 * can be started on as it is.
 */
import { mkdir, readdir } from 'node:fs/promises'
import leveldown, { type LevelDown } from 'leveldown'
import { type StoredRecord, StoreError } from './store.js'

/** Media type of a framed record stream (`GET /api/backup`). */
export const BACKUP_TYPE = 'application/vnd.tandem.backup'

/** Records per LevelDB batch while writing a backup. */
const BATCH_RECORDS = 1000
/** …or bytes. */
const BATCH_BYTES = 4 * 1024 * 1024

/** Frames records for a byte stream: each is `[u32 key length][u32 value length][key][value]`. */
export async function* encodeRecords(records: AsyncIterable<StoredRecord>): AsyncGenerator<Uint8Array> {
  for await (const { key, value } of records) {
    const frame = new Uint8Array(HEADER_BYTES + key.byteLength + value.byteLength)
    const view = new DataView(frame.buffer)
    view.setUint32(0, key.byteLength)
    view.setUint32(4, value.byteLength)
    frame.set(key, HEADER_BYTES)
    frame.set(value, HEADER_BYTES + key.byteLength)
    yield frame
  }
}

const HEADER_BYTES = 8

/** Reads records framed by `encodeRecords` from chunks cut anywhere. Throws on a truncated stream. */
export async function* decodeRecords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<StoredRecord> {
  let pending: Uint8Array = new Uint8Array(0)
  for await (const chunk of chunks) {
    pending = pending.byteLength === 0 ? chunk : concat(pending, chunk)
    let at = 0
    while (pending.byteLength - at >= HEADER_BYTES) {
      const view = new DataView(pending.buffer, pending.byteOffset + at, HEADER_BYTES)
      const keyBytes = view.getUint32(0)
      const valueBytes = view.getUint32(4)
      const end = at + HEADER_BYTES + keyBytes + valueBytes
      if (end > pending.byteLength) break
      const keyAt = at + HEADER_BYTES
      yield {
        key: pending.slice(keyAt, keyAt + keyBytes),
        value: pending.slice(keyAt + keyBytes, end),
      }
      at = end
    }
    pending = pending.subarray(at)
  }
  if (pending.byteLength > 0) throw new Error('the backup stream ended in the middle of a record')
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a)
  out.set(b, a.byteLength)
  return out
}

/**
 * Writes `records` into a new LevelDB data directory `dir` (created; an existing one must be
 * empty), calling `progress` with the records written so far after each batch. Resolves with
 * the count once everything is on disk; on failure the directory is left for the caller to remove.
 */
export async function writeBackup(
  dir: string,
  records: AsyncIterable<StoredRecord>,
  progress: (written: number) => void = () => undefined,
): Promise<number> {
  await mkdir(dir, { recursive: true })
  if ((await readdir(dir)).length > 0) {
    throw new StoreError('TANDEM_ERR_STORE_OPEN', `${dir} is not empty: a backup goes into a new directory`)
  }
  const db = leveldown(dir)
  await call<void>((done) => db.open({ createIfMissing: true, errorIfExists: true }, done))
  let written = 0
  try {
    let batch = db.batch()
    let count = 0
    let bytes = 0
    const flush = async () => {
      if (count === 0) return
      const full = batch
      batch = db.batch()
      await call<void>((done) => full.write({ sync: false }, done))
      written += count
      count = 0
      bytes = 0
      progress(written)
    }
    for await (const { key, value } of records) {
      batch.put(Buffer.from(key), Buffer.from(value))
      count++
      bytes += key.byteLength + value.byteLength
      if (count >= BATCH_RECORDS || bytes >= BATCH_BYTES) await flush()
    }
    await flush()
    // The last batch synced: the backup is on disk when this resolves.
    await call<void>((done) => db.batch([], { sync: true }, done))
  } finally {
    await close(db)
  }
  return written
}

function close(db: LevelDown): Promise<void> {
  return call<void>((done) => db.close(done))
}

function call<T>(start: (done: (err?: Error | null) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    start((err) =>
      err
        ? reject(new StoreError('TANDEM_ERR_STORE_WRITE', err.message, { cause: err }))
        : resolve(undefined as T),
    ),
  )
}
