import { mkdir } from 'node:fs/promises'
import leveldown, { type BatchOp, type ChainedBatch, type IteratorOptions, type LevelDown } from 'leveldown'
import {
  metaKey,
  metaRange,
  nameOfMetaKey,
  rangeMarkers,
  seqOfUpdateKey,
  updateKeyAt,
  updateKeyPrefix,
  updateRange,
} from './keys.js'
import { type DocMeta, type DocStore, type LoadedDoc, StoreError } from './store.js'

export interface LevelStoreOptions {
  /** Directory of the database; created when missing. One process may use it at a time. */
  readonly dir: string
  /** Sync each batch to disk before acknowledging it (survives power loss, not only a crash). Default false. */
  readonly fsync?: boolean
  /**
   * Group-commit window in ms: at most one batch starts per window, so under load many updates
   * share one LevelDB write; when writes are rare, a write starts at once. Default 2.
   */
  readonly commitIntervalMs?: number
  /** Told about every batch written (or failed), for metrics. */
  readonly onBatch?: (info: BatchInfo) => void
}

export interface BatchInfo {
  readonly durationMs: number
  readonly records: number
  readonly bytes: number
  readonly error: StoreError | null
}

/**
 * A document's metadata record is rewritten at most once per this many ms while only appends come
 * (compactions and deletions rewrite it at once): under load it would otherwise be half the
 * records of every batch. After a crash it is at most that far behind; its record count is
 * recovered from the keys.
 */
const META_INTERVAL_MS = 1000
/** Quiet time after a compaction before LevelDB is asked to reclaim the space, in ms. */
const RECLAIM_IDLE_MS = 1000
const DEFAULT_COMMIT_INTERVAL_MS = 2
/** A batch with this many records is written without waiting for the rest of the window. */
const FULL_BATCH_RECORDS = 64
const noop = (): void => undefined

/** Per-document counters; kept in memory for documents touched since open. */
interface DocState {
  readonly name: string
  readonly keyPrefix: Buffer
  createdAt: number
  updatedAt: number
  bytes: number
  records: number
  updates: number
  firstSeq: number
  nextSeq: number
  /** The batch that last wrote this document while it is still queued or in flight. */
  lastWrite: Promise<void> | null
  /** When its metadata record was last queued (performance.now()). */
  metaAt: number
}

/**
 * Everything written together in one LevelDB batch. Records go straight into LevelDB's own batch
 * (leveldown's chained form): its array form reads each operation back through N-API property
 * lookups, several times slower per record than handing over key and value.
 */
class Batch {
  readonly docs = new Set<DocState>()
  /** Documents whose metadata record the batch rewrites (from their counters when it is written). */
  readonly metas = new Set<DocState>()
  records = 0
  /** Bytes of documents (updates and compacted states). */
  bytes = 0
  readonly done: Promise<void>
  resolve!: () => void
  reject!: (error: StoreError) => void

  constructor(private readonly chained: ChainedBatch) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  put(key: Buffer, value: Buffer): void {
    this.chained.put(key, value)
    this.records++
  }

  del(key: Buffer): void {
    this.chained.del(key)
    this.records++
  }

  write(sync: boolean, callback: (err?: Error | null) => void): void {
    this.chained.write({ sync }, callback)
  }
}

/** Past this many cached documents, idle ones are forgotten (they are re-read when touched). */
const MAX_CACHED_DOCS = 10_000

/**
 * Opens a LevelDB document store in `options.dir`.
 * Rejects with `TANDEM_ERR_STORE_LOCKED` when another process holds the directory, and with
 * `TANDEM_ERR_STORE_OPEN` when it cannot be created or opened.
 */
export async function openLevelStore(options: LevelStoreOptions): Promise<DocStore> {
  try {
    await mkdir(options.dir, { recursive: true })
  } catch (cause) {
    throw new StoreError(
      'TANDEM_ERR_STORE_OPEN',
      `cannot create data directory ${options.dir}: ${String(cause)}`,
      {
        cause,
      },
    )
  }
  const db = leveldown(options.dir)
  await new Promise<void>((resolve, reject) =>
    db.open({ createIfMissing: true }, (err) => {
      if (!err) return resolve()
      const locked = /\block\b/i.test(err.message)
      reject(
        locked
          ? new StoreError(
              'TANDEM_ERR_STORE_LOCKED',
              `data directory ${options.dir} is in use by another Tandem process (LevelDB lock held)`,
              { cause: err },
            )
          : new StoreError(
              'TANDEM_ERR_STORE_OPEN',
              `cannot open data directory ${options.dir}: ${err.message}`,
              {
                cause: err,
              },
            ),
      )
    }),
  )
  return new LevelStore(db, options)
}

class LevelStore implements DocStore {
  private readonly docs = new Map<string, DocState>()
  private readonly reading = new Map<string, Promise<DocState>>()
  /** The batch collecting writes; written when the one in flight completes. */
  private next: Batch | null = null
  private inFlight: Batch | null = null
  /** The group-commit timer, and whether a flush is due in this turn of the event loop. */
  private flushTimer: NodeJS.Timeout | null = null
  private flushSoon = false
  /** When the last batch started (performance.now()), for the group-commit window. */
  private lastFlushAt = Number.NEGATIVE_INFINITY
  private closing: Promise<void> | null = null
  /** Closing: what is queued is written without waiting out the commit window. */
  private draining = false
  /** Documents compacted since LevelDB last reclaimed their space (see `reclaim`). */
  private readonly compacted = new Set<string>()
  private reclaimTimer: NodeJS.Timeout | null = null
  private reclaiming: Promise<void> | null = null
  /** Documents appended to since their metadata record was last queued. */
  private readonly staleMeta = new Set<DocState>()
  private metaTimer: NodeJS.Timeout | null = null

  constructor(
    private readonly db: LevelDown,
    private readonly options: LevelStoreOptions,
  ) {}

  async load(name: string): Promise<LoadedDoc> {
    this.assertOpen()
    const state = await this.state(name)
    // Records still queued are not visible to an iterator yet: wait for them.
    if (state.lastWrite) await state.lastWrite.catch(() => undefined)
    const updates = await this.readValues(updateRange(name))
    return { updates, meta: state.records === 0 && state.updates === 0 ? null : toMeta(state) }
  }

  append(name: string, update: Uint8Array): Promise<void> {
    return this.withState(name, (state, batch) => {
      if (state.updates === 0 || performance.now() - state.metaAt >= META_INTERVAL_MS) batch.metas.add(state)
      else this.metaLater(state)
      const now = Date.now()
      if (state.updates === 0) state.createdAt = now
      batch.put(updateKeyAt(state.keyPrefix, state.nextSeq++), asBuffer(update))
      batch.bytes += update.byteLength
      state.updatedAt = now
      state.bytes += update.byteLength
      state.records++
      state.updates++
    })
  }

  compact(name: string, state: Uint8Array): Promise<void> {
    const written = this.withState(name, (doc, batch) => {
      batch.metas.add(doc)
      for (let seq = doc.firstSeq; seq < doc.nextSeq; seq++) batch.del(updateKeyAt(doc.keyPrefix, seq))
      const now = Date.now()
      if (doc.updates === 0) doc.createdAt = now
      doc.firstSeq = doc.nextSeq
      batch.put(updateKeyAt(doc.keyPrefix, doc.nextSeq++), asBuffer(state))
      batch.bytes += state.byteLength
      doc.updatedAt = now
      doc.bytes = state.byteLength
      doc.records = 1
      doc.updates++
    })
    written.then(() => {
      this.compacted.add(name)
      this.scheduleReclaim()
    }, noop)
    return written
  }

  delete(name: string): Promise<void> {
    return this.withState(name, (doc, batch) => {
      batch.metas.add(doc)
      for (let seq = doc.firstSeq; seq < doc.nextSeq; seq++) batch.del(updateKeyAt(doc.keyPrefix, seq))
      doc.firstSeq = doc.nextSeq
      doc.bytes = 0
      doc.records = 0
      doc.updates = 0
    })
  }

  async list(): Promise<DocMeta[]> {
    this.assertOpen()
    this.writeStaleMeta()
    await this.settled()
    const metas: DocMeta[] = []
    await this.iterate({ ...metaRange(), keys: true, values: true }, (key, value) => {
      const state = parseMeta(nameOfMetaKey(key), value)
      if (state.records > 0) metas.push(toMeta(state))
    })
    return metas
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true
      this.writeStaleMeta()
      this.scheduleFlush()
      await this.settled()
      if (this.reclaimTimer) clearTimeout(this.reclaimTimer)
      await this.reclaiming
      await this.reclaim()
      await new Promise<void>((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())))
    })()
    return this.closing
  }

  /**
   * A compaction leaves the replaced records in LevelDB's log and tables until LevelDB compacts
   * that key range itself, which for a quiet document may be never. Once writes pause for
   * RECLAIM_IDLE_MS (and on close), ask LevelDB to compact the ranges of the documents compacted
   * since, so the disk holds about one record per document. It runs on LevelDB's threads.
   */
  private scheduleReclaim(): void {
    if (this.reclaimTimer) clearTimeout(this.reclaimTimer)
    this.reclaimTimer = setTimeout(() => {
      this.reclaimTimer = null
      if (this.inFlight || this.next || this.reclaiming) this.scheduleReclaim()
      else this.reclaiming = this.reclaim().finally(() => (this.reclaiming = null))
    }, RECLAIM_IDLE_MS)
    this.reclaimTimer.unref()
  }

  private async reclaim(): Promise<void> {
    const names = [...this.compacted]
    this.compacted.clear()
    // Space only: a failure loses nothing, and the next compaction tries again.
    const settle = (run: (done: () => void) => void) => new Promise<void>((resolve) => run(() => resolve()))
    for (const name of names) {
      const { gte, lt } = updateRange(name)
      // Writes the memtable out and merges the levels above the deepest one holding the range.
      await settle((done) => this.db.compactRange(gte, lt, done))
      // LevelDB never rewrites that deepest level itself, and a memtable written out to an empty
      // level lands there, replaced records and all. A pair of markers spanning the range,
      // written out alone, lands just above it; merging them down rewrites the range without
      // what the compaction replaced.
      const markers = rangeMarkers(name)
      const ops: BatchOp[] = markers.map((key) => ({ type: 'put', key, value: Buffer.alloc(0) }))
      for (const key of markers) ops.push({ type: 'del', key })
      await settle((done) => this.db.batch(ops, {}, done))
      await settle((done) => this.db.compactRange(gte, lt, done))
    }
  }

  /** Has `state`'s metadata record rewritten within META_INTERVAL_MS, with whatever batch is next. */
  private metaLater(state: DocState): void {
    this.staleMeta.add(state)
    this.metaTimer ??= setTimeout(() => {
      this.metaTimer = null
      this.writeStaleMeta()
    }, META_INTERVAL_MS)
  }

  private writeStaleMeta(): void {
    if (this.metaTimer) clearTimeout(this.metaTimer)
    this.metaTimer = null
    if (this.staleMeta.size === 0) return
    for (const state of this.staleMeta) this.queue(state).metas.add(state)
    this.staleMeta.clear()
    this.scheduleFlush()
  }

  /** Resolves once every write queued so far has completed (successfully or not). */
  private async settled(): Promise<void> {
    while (this.inFlight || this.next) {
      await (this.next ?? this.inFlight)?.done.catch(() => undefined)
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new StoreError('TANDEM_ERR_STORE_CLOSED', 'the document store is closed')
  }

  /**
   * Runs `write` against the document's counters and the batch being collected, in call order
   * (a document not yet cached is read first), and returns that batch's completion.
   */
  private withState(name: string, write: (state: DocState, batch: Batch) => void): Promise<void> {
    if (this.closing)
      return Promise.reject(new StoreError('TANDEM_ERR_STORE_CLOSED', 'the document store is closed'))
    const cached = this.docs.get(name)
    const enqueue = (state: DocState): Promise<void> => {
      const batch = this.queue(state)
      write(state, batch)
      this.scheduleFlush()
      return batch.done
    }
    if (cached && !this.reading.has(name)) return enqueue(cached)
    return this.state(name).then(enqueue)
  }

  private state(name: string): Promise<DocState> {
    const cached = this.docs.get(name)
    if (cached) return Promise.resolve(cached)
    let reading = this.reading.get(name)
    if (!reading) {
      reading = this.readState(name).then(
        (state) => {
          this.reading.delete(name)
          this.docs.set(name, state)
          return state
        },
        (error: unknown) => {
          this.reading.delete(name)
          throw error
        },
      )
      this.reading.set(name, reading)
    }
    return reading
  }

  private async readState(name: string): Promise<DocState> {
    const value = await new Promise<Buffer | undefined>((resolve, reject) =>
      this.db.get(metaKey(name), { asBuffer: true }, (err, found) => {
        if (err && /notfound/i.test(err.message)) resolve(undefined)
        else if (err)
          reject(
            new StoreError('TANDEM_ERR_STORE_READ', `cannot read ${name}: ${err.message}`, { cause: err }),
          )
        else resolve(found)
      }),
    )
    const state = value ? parseMeta(name, value) : emptyState(name)
    // The keys, not the metadata, say which sequence numbers are taken.
    const range = updateRange(name)
    let first: number | null = null
    let last: number | null = null
    await this.iterate({ ...range, keys: true, values: false, limit: 1 }, (key) => {
      first = seqOfUpdateKey(key)
    })
    await this.iterate({ ...range, keys: true, values: false, limit: 1, reverse: true }, (key) => {
      last = seqOfUpdateKey(key)
    })
    if (first !== null && last !== null) {
      state.firstSeq = first
      state.nextSeq = Math.max(state.nextSeq, (last as number) + 1)
      // Sequence numbers are contiguous from the first record (the metadata may lag after a crash).
      state.records = (last as number) + 1 - first
    } else {
      state.firstSeq = state.nextSeq
    }
    return state
  }

  /** The batch being collected, with `state` among the documents it writes. */
  private queue(state: DocState): Batch {
    const batch = this.collecting()
    batch.docs.add(state)
    state.lastWrite = batch.done
    return batch
  }

  private collecting(): Batch {
    this.next ??= new Batch(this.db.batch())
    return this.next
  }

  /**
   * Writes the collected batch once nothing is in flight and either the group-commit window since
   * the last batch has passed or the batch is full: everything that arrives meanwhile (at least
   * this turn of the event loop) joins it. Under a steady trickle that is one LevelDB write, and
   * one hop to its thread, per window instead of per update; under a flood, full batches go
   * back to back.
   */
  private scheduleFlush(): void {
    const batch = this.next
    if (this.inFlight || !batch || this.flushSoon) return
    const interval = this.options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS
    const wait =
      batch.records >= FULL_BATCH_RECORDS || this.draining
        ? 0
        : this.lastFlushAt + interval - performance.now()
    if (wait > 0) {
      this.flushTimer ??= setTimeout(this.runFlush, wait)
      return
    }
    if (this.flushTimer) clearTimeout(this.flushTimer)
    this.flushTimer = null
    this.flushSoon = true
    setImmediate(this.runFlush)
  }

  private readonly runFlush = (): void => {
    if (this.flushTimer) clearTimeout(this.flushTimer)
    this.flushTimer = null
    this.flushSoon = false
    this.flush()
  }

  private flush(): void {
    const batch = this.next
    if (!batch || this.inFlight) return
    this.next = null
    this.inFlight = batch
    const started = performance.now()
    this.lastFlushAt = started
    for (const state of batch.metas) {
      this.staleMeta.delete(state)
      state.metaAt = started
      if (state.updates === 0) batch.del(metaKey(state.name))
      else batch.put(metaKey(state.name), encodeMeta(state))
    }
    batch.write(this.options.fsync === true, (err) => {
      this.inFlight = null
      const error = err
        ? new StoreError(
            'TANDEM_ERR_STORE_WRITE',
            `write of ${batch.docs.size} document(s) failed: ${err.message}`,
            {
              cause: err,
            },
          )
        : null
      for (const state of batch.docs) {
        if (state.lastWrite === batch.done) state.lastWrite = null
        // The counters now disagree with the disk: read them again when next needed.
        if (error) {
          this.docs.delete(state.name)
          this.staleMeta.delete(state)
        }
      }
      this.options.onBatch?.({
        durationMs: performance.now() - started,
        records: batch.records,
        bytes: batch.bytes,
        error,
      })
      if (error) batch.reject(error)
      else batch.resolve()
      this.forgetIdleDocs()
      this.scheduleFlush()
    })
  }

  private forgetIdleDocs(): void {
    if (this.docs.size <= MAX_CACHED_DOCS) return
    for (const [name, state] of this.docs)
      if (!state.lastWrite && !this.staleMeta.has(state)) this.docs.delete(name)
  }

  private async readValues(range: { gte: Buffer; lt: Buffer }): Promise<Uint8Array[]> {
    const values: Uint8Array[] = []
    await this.iterate({ ...range, keys: false, values: true }, (_key, value) => values.push(value))
    return values
  }

  private iterate(options: IteratorOptions, each: (key: Buffer, value: Buffer) => void): Promise<void> {
    const it = this.db.iterator({ ...options, keyAsBuffer: true, valueAsBuffer: true })
    return new Promise((resolve, reject) => {
      const fail = (err: Error) =>
        it.end(() =>
          reject(new StoreError('TANDEM_ERR_STORE_READ', `read failed: ${err.message}`, { cause: err })),
        )
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
}

/** leveldown stores anything but a Buffer as its string form: wrap (no copy) what Yjs hands us. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function emptyState(name: string): DocState {
  return {
    name,
    keyPrefix: updateKeyPrefix(name),
    createdAt: 0,
    updatedAt: 0,
    bytes: 0,
    records: 0,
    updates: 0,
    firstSeq: 0,
    nextSeq: 0,
    lastWrite: null,
    metaAt: Number.NEGATIVE_INFINITY,
  }
}

function encodeMeta(state: DocState): Buffer {
  const { createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq } = state
  return Buffer.from(JSON.stringify({ createdAt, updatedAt, bytes, records, updates, firstSeq, nextSeq }))
}

function parseMeta(name: string, value: Uint8Array): DocState {
  const state = emptyState(name)
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
  ] as const) {
    const n = (parsed as Record<string, unknown>)[field]
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) state[field] = n
  }
  return state
}

function toMeta({ name, createdAt, updatedAt, bytes, records, updates }: DocState): DocMeta {
  return { name, createdAt, updatedAt, bytes, records, updates }
}
