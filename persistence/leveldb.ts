/**
 * The LevelDB side of the store, on leveldown: opening a data directory (one process at a time)
 * and recovering its journal into it, writing a batch with the journal's mark, reading (one
 * value, a key range, a snapshot of every record) and reclaiming the space of replaced records.
 * It knows nothing of documents' counters or of the write pipeline (see level.ts).
 */
import { mkdir } from 'node:fs/promises'
import leveldown, { type BatchOp, type IteratorOptions, type LevelDown } from 'leveldown'
import { Journal, type Op, readSegment, segmentsIn } from './journal.js'
import { journalKey, rangeMarkers, updateRange } from './keys.js'
import { type StoredRecord, StoreError } from './store.js'

/** An open database and its journal, which holds no segment LevelDB lacks. */
export interface OpenDatabase {
  readonly db: LevelDown
  readonly journal: Journal
}

/**
 * Opens (creating when missing) the LevelDB database in `dir` and writes into it what its
 * journal holds beyond what it has.
 * Rejects with `TANDEM_ERR_STORE_LOCKED` when another process holds the directory, and with
 * `TANDEM_ERR_STORE_OPEN` when it cannot be created, opened or recovered (the database is closed
 * again).
 */
export async function openDatabase(dir: string): Promise<OpenDatabase> {
  try {
    await mkdir(dir, { recursive: true })
  } catch (cause) {
    throw new StoreError('TANDEM_ERR_STORE_OPEN', `cannot create data directory ${dir}: ${String(cause)}`, {
      cause,
    })
  }
  const db = leveldown(dir)
  await new Promise<void>((resolve, reject) =>
    db.open({ createIfMissing: true }, (err) => {
      if (!err) return resolve()
      const locked = /\block\b/i.test(err.message)
      reject(
        locked
          ? new StoreError(
              'TANDEM_ERR_STORE_LOCKED',
              `data directory ${dir} is in use by another Tandem process (LevelDB lock held)`,
              { cause: err },
            )
          : new StoreError('TANDEM_ERR_STORE_OPEN', `cannot open data directory ${dir}: ${err.message}`, {
              cause: err,
            }),
      )
    }),
  )
  try {
    return { db, journal: await recover(db, dir) }
  } catch (cause) {
    await new Promise<void>((resolve) => db.close(() => resolve()))
    throw new StoreError(
      'TANDEM_ERR_STORE_OPEN',
      `cannot recover the journal in ${dir}: ${(cause as Error).message}`,
      { cause },
    )
  }
}

/** Closes `db`; rejects when LevelDB fails to. */
export function closeDatabase(db: LevelDown): Promise<void> {
  return new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())))
}

/** Writes the journal segments LevelDB lacks into it, one batch each, and deletes every segment. */
async function recover(db: LevelDown, dir: string): Promise<Journal> {
  const marked = await new Promise<Buffer | undefined>((resolve, reject) =>
    db.get(journalKey(), { asBuffer: true }, (err, value) =>
      err && !isNotFound(err) ? reject(err) : resolve(err ? undefined : value),
    ),
  )
  const applied = marked ? Number(marked.toString('latin1')) : 0
  if (!Number.isSafeInteger(applied))
    throw new Error(`unreadable journal mark ${JSON.stringify(marked?.toString('latin1'))}`)
  const segments = segmentsIn(dir)
  let last = applied
  for (const segment of segments) {
    if (segment > applied) {
      const ops = readSegment(dir, segment)
      await new Promise<void>((resolve, reject) =>
        writeBatch(db, ops, segment, true, (err) => (err ? reject(err) : resolve())),
      )
    }
    last = Math.max(last, segment)
  }
  const journal = new Journal(dir, last, segments)
  journal.remove(last)
  return journal
}

/** Writes `ops` and the mark that segment `segment` and those before it are applied, atomically. */
export function writeBatch(
  db: LevelDown,
  ops: readonly Op[],
  segment: number,
  sync: boolean,
  callback: (err?: Error | null) => void,
): void {
  // leveldown's chained form: its array form reads each operation back through N-API property
  // lookups, several times slower per record than handing over key and value.
  const chained = db.batch()
  for (const { key, value } of ops) {
    if (value) chained.put(key, value)
    else chained.del(key)
  }
  chained.put(journalKey(), Buffer.from(String(segment), 'latin1'))
  chained.write({ sync }, callback)
}

/** The value at `key` (of document `name`, which a failure names), or undefined. */
export function readValue(db: LevelDown, key: Buffer, name: string): Promise<Buffer | undefined> {
  return new Promise<Buffer | undefined>((resolve, reject) =>
    db.get(key, { asBuffer: true }, (err, found) => {
      if (err && isNotFound(err)) resolve(undefined)
      else if (err)
        reject(new StoreError('TANDEM_ERR_STORE_READ', `cannot read ${name}: ${err.message}`, { cause: err }))
      else resolve(found)
    }),
  )
}

/** The values in `range`, in key order. */
export async function readValues(db: LevelDown, range: { gte: Buffer; lt: Buffer }): Promise<Uint8Array[]> {
  const values: Uint8Array[] = []
  await iterate(db, { ...range, keys: false, values: true }, (_key, value) => values.push(value))
  return values
}

/**
 * Calls `each` with every entry `options` select, in order (an empty buffer for what it does not
 * ask for). Rejects with `TANDEM_ERR_STORE_READ` when LevelDB fails.
 */
export function iterate(
  db: LevelDown,
  options: IteratorOptions,
  each: (key: Buffer, value: Buffer) => void,
): Promise<void> {
  const it = db.iterator({ ...options, keyAsBuffer: true, valueAsBuffer: true })
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => it.end(() => reject(readError(err)))
    const step = (): void =>
      it.next((err, key, value) => {
        if (err) return fail(err)
        if (key === undefined && value === undefined) return it.end(() => resolve())
        each(key ?? Buffer.alloc(0), value ?? Buffer.alloc(0))
        step()
      })
    step()
  })
}

/** The first or the last key in `range`, or undefined when it holds none. */
export async function edgeKey(
  db: LevelDown,
  range: { gte: Buffer; lt: Buffer },
  edge: 'first' | 'last',
): Promise<Buffer | undefined> {
  let found: Buffer | undefined
  await iterate(db, { ...range, keys: true, values: false, limit: 1, reverse: edge === 'last' }, (key) => {
    found = key
  })
  return found
}

/**
 * Every record of `db` in key order, as of the first read (one iterator reads one LevelDB
 * snapshot, taken when it is created), but the journal's mark: that belongs to this directory's
 * journal, not to a copy. Throws `TANDEM_ERR_STORE_READ` when LevelDB fails.
 */
export async function* snapshot(db: LevelDown): AsyncGenerator<StoredRecord> {
  const it = db.iterator({ keys: true, values: true, keyAsBuffer: true, valueAsBuffer: true })
  const journal = journalKey()
  try {
    for (;;) {
      const entry = await new Promise<[Buffer, Buffer] | null>((resolve, reject) =>
        it.next((err, key, value) => {
          if (err) reject(readError(err))
          else resolve(key === undefined ? null : [key, value ?? Buffer.alloc(0)])
        }),
      )
      if (!entry) return
      if (!entry[0].equals(journal)) yield { key: entry[0], value: entry[1] }
    }
  } finally {
    await new Promise<void>((resolve) => it.end(() => resolve()))
  }
}

/**
 * Has LevelDB rewrite the update ranges of documents `names` without the records deleted or
 * replaced there, on its own threads. Never rejects: it saves space only, and a failure loses
 * nothing.
 */
export async function reclaim(db: LevelDown, names: readonly string[]): Promise<void> {
  const settle = (run: (done: () => void) => void) => new Promise<void>((resolve) => run(() => resolve()))
  for (const name of names) {
    const { gte, lt } = updateRange(name)
    // Writes the memtable out and merges the levels above the deepest one holding the range.
    await settle((done) => db.compactRange(gte, lt, done))
    // LevelDB never rewrites that deepest level itself, and a memtable written out to an empty
    // level lands there, replaced records and all. A pair of markers spanning the range,
    // written out alone, lands just above it; merging them down rewrites the range without
    // what the compaction replaced.
    const markers = rangeMarkers(name)
    const ops: BatchOp[] = markers.map((key) => ({ type: 'put', key, value: Buffer.alloc(0) }))
    for (const key of markers) ops.push({ type: 'del', key })
    await settle((done) => db.batch(ops, {}, done))
    await settle((done) => db.compactRange(gte, lt, done))
  }
}

function isNotFound(err: Error): boolean {
  return /notfound/i.test(err.message)
}

function readError(err: Error): StoreError {
  return new StoreError('TANDEM_ERR_STORE_READ', `read failed: ${err.message}`, { cause: err })
}
