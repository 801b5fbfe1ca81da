/**
 * The LevelDB document store: a DocStore whose writes go, in call order, into groups (one per
 * turn of the event loop or commit window), each acknowledged once the journal has it, then on to
 * LevelDB in large batches; and whose reads first make LevelDB take what the journal holds. The
 * LevelDB calls themselves are in leveldb.ts, the journal in journal.ts.
 */
import type { LevelDown } from 'leveldown'
import type { Journal, Op } from './journal.js'
import {
  deltaKey,
  deltaRange,
  headKey,
  metaKey,
  metaRange,
  nameOfMetaKey,
  seqOfUpdateKey,
  updateKeyAt,
  updateKeyPrefix,
  updateRange,
  versionKey,
  versionRange,
} from './keys.js'
import {
  closeDatabase,
  edgeKey,
  iterate,
  openDatabase,
  readValue,
  readValues,
  reclaim,
  snapshot,
  writeBatch,
} from './leveldb.js'
import {
  type Counters,
  counters,
  emptyCounters,
  encodeMeta,
  encodeVersion,
  parseMeta,
  parseVersion,
  toMeta,
} from './meta.js'
import { Deferred, Pace } from './pace.js'
import {
  type DocMeta,
  type DocStore,
  type LoadedDoc,
  type StoredRecord,
  StoreError,
  type VersionList,
  type VersionRecord,
} from './store.js'

export interface LevelStoreOptions {
  /** Directory of the database; created when missing. One process may use it at a time. */
  readonly dir: string
  /** Sync each journal write to disk before acknowledging it (survives power loss, not only a crash). Default false. */
  readonly fsync?: boolean
  /**
   * Group-commit window of the journal in ms: at most one journal write starts per window, so
   * many updates share one write. 0 (the default): one write per turn of the event loop, for
   * everything that arrived in it.
   */
  readonly commitIntervalMs?: number
  /** Told about every journal write and LevelDB batch (or their failure), for metrics. */
  readonly onBatch?: (info: BatchInfo) => void
}

export interface BatchInfo {
  /** `journal`: a write that acknowledges updates; `leveldb`: the batch that moves them on. */
  readonly stage: 'journal' | 'leveldb'
  readonly durationMs: number
  readonly records: number
  readonly bytes: number
  readonly error: StoreError | null
}

/**
 * A document's metadata record is rewritten at most once per this many ms while only appends come
 * (compactions and deletions rewrite it at once): under load it would otherwise be half the
 * records of every write. After a crash it is at most that far behind; its record count is
 * recovered from the keys.
 */
const META_INTERVAL_MS = 1000
/** Quiet time after a compaction before LevelDB is asked to reclaim the space, in ms. */
const RECLAIM_IDLE_MS = 1000
/** A journal group with this many records is written without waiting for the rest of the window. */
const FULL_GROUP_RECORDS = 64
/**
 * What the journal holds reaches LevelDB in a batch at most once per this many ms (when it has
 * this many records, at once): its hop to a LevelDB thread is paid per batch, off every
 * update's path.
 */
const LEVEL_INTERVAL_MS = 100
const FULL_LEVEL_RECORDS = 4096
/** New writes are refused while this many bytes of documents wait in the journal for LevelDB. */
const MAX_BEHIND_BYTES = 64 * 2 ** 20
/**
 * Wait before writing a failed LevelDB batch again. Its records are safe in the journal (and
 * replayed at the next start if LevelDB never takes them); meanwhile new writes are refused.
 */
const LEVEL_RETRY_MS = 1000
const noop = (): void => undefined

/** Per-document counters; kept in memory for documents touched since open. */
interface DocState extends Counters {
  readonly name: string
  readonly keyPrefix: Buffer
  /** The LevelDB batch that will hold this document's latest journaled write, until written. */
  batch: LevelBatch | null
}

/** The writes of one journal group: what arrived in one turn of the event loop (or one window). */
class Group extends Deferred {
  readonly ops: Op[] = []
  /** Each document written, with its counters from before the group, restored if the write fails. */
  readonly docs = new Map<DocState, Counters>()
  /** Documents whose metadata record the group rewrites (from their counters when it is written). */
  readonly metas = new Set<DocState>()
  /** Bytes of documents (updates and compacted states). */
  bytes = 0
}

/** Journaled writes on their way to LevelDB, in one batch. */
class LevelBatch {
  readonly ops: Op[] = []
  readonly docs = new Set<DocState>()
  bytes = 0
  /** The highest journal segment whose writes are all in this batch or earlier ones. */
  segment = 0
  /** Settles with the next attempt to write the batch. */
  attempt = new Deferred()
}

/** Past this many cached documents, idle ones are forgotten (they are re-read when touched). */
const MAX_CACHED_DOCS = 10_000

/**
 * Opens a LevelDB document store in `options.dir`, replaying what its journal holds beyond what
 * LevelDB has.
 * Rejects with `TANDEM_ERR_STORE_LOCKED` when another process holds the directory, and with
 * `TANDEM_ERR_STORE_OPEN` when it cannot be created, opened or recovered.
 */
export async function openLevelStore(options: LevelStoreOptions): Promise<DocStore> {
  const { db, journal } = await openDatabase(options.dir)
  return new LevelStore(db, journal, options)
}

class LevelStore implements DocStore {
  private readonly docs = new Map<string, DocState>()
  private readonly reading = new Map<string, Promise<DocState>>()
  /** The journal group collecting writes; written at the end of this turn or window. */
  private group: Group | null = null
  private readonly groupPace: Pace
  /** The LevelDB batch collecting journaled writes, and the one being written (or retried). */
  private next: LevelBatch | null = null
  private inFlight: LevelBatch | null = null
  private readonly levelPace = new Pace(LEVEL_INTERVAL_MS, () => this.startLevel())
  /** A reader needs LevelDB to have everything journaled: the next batch goes without waiting. */
  private levelWanted = false
  private retryTimer: NodeJS.Timeout | null = null
  /**
   * Why new writes are refused (a LevelDB write failed, or with `fsync` a journal sync did), until
   * a LevelDB batch reaching journal segment `until` is written.
   */
  private refusal: { readonly error: StoreError; readonly until: number } | null = null
  /** The highest journal segment LevelDB has all the writes of. */
  private applied: number
  private closing: Promise<void> | null = null
  /** Closed: nothing more is written. */
  private closed = false
  /** Closing: what is queued is written without waiting out any window, and tried once. */
  private draining = false
  /** Documents compacted since LevelDB last reclaimed their space (see `reclaim`). */
  private readonly compacted = new Set<string>()
  private reclaimTimer: NodeJS.Timeout | null = null
  private reclaiming: Promise<void> | null = null
  /** Documents appended to since their metadata record was last written. */
  private readonly staleMeta = new Set<DocState>()
  private metaTimer: NodeJS.Timeout | null = null

  constructor(
    private readonly db: LevelDown,
    private readonly journal: Journal,
    private readonly options: LevelStoreOptions,
  ) {
    // Recovery put every segment there was into LevelDB.
    this.applied = journal.lastSegment
    this.groupPace = new Pace(options.commitIntervalMs ?? 0, () => this.writeGroup())
  }

  async load(name: string): Promise<LoadedDoc> {
    const state = await this.readable(name)
    const updates = await readValues(this.db, updateRange(name))
    return { updates, meta: state.records === 0 && state.updates === 0 ? null : toMeta(state.name, state) }
  }

  async versions(name: string): Promise<VersionList> {
    const state = await this.readable(name)
    const versions: VersionRecord[] = []
    await iterate(this.db, { ...versionRange(name), keys: false, values: true }, (_key, value) => {
      versions.push(parseVersion(value))
    })
    const head = state.versions > 0 ? await readValue(this.db, headKey(name), name) : undefined
    return { versions, head: head ?? null }
  }

  async versionDeltas(name: string, id: number): Promise<Uint8Array[]> {
    await this.readable(name)
    return readValues(this.db, deltaRange(name, id))
  }

  addVersion(
    name: string,
    version: Omit<VersionRecord, 'id'>,
    delta: Uint8Array,
    head: Uint8Array,
  ): Promise<VersionRecord> {
    let record: VersionRecord | undefined
    const written = this.withState(name, (state, group) => {
      record = { id: ++state.versions, at: version.at, name: version.name, authors: version.authors }
      group.metas.add(state)
      group.ops.push({ key: versionKey(name, record.id), value: encodeVersion(record) })
      group.ops.push({ key: deltaKey(name, record.id), value: asBuffer(delta) })
      group.ops.push({ key: headKey(name), value: asBuffer(head) })
      group.bytes += delta.byteLength + head.byteLength
    })
    return written.then(() => record as VersionRecord)
  }

  /**
   * The document's counters once everything written to it so far can be read: writes only
   * journaled are not visible to an iterator yet, so LevelDB is made to take them (batches are
   * written in order, the one in flight first).
   */
  private async readable(name: string): Promise<DocState> {
    this.assertOpen()
    const state = await this.state(name)
    if (this.group?.docs.has(state)) this.writeGroup()
    try {
      await this.reach(state.batch)
    } catch (cause) {
      throw new StoreError(
        'TANDEM_ERR_STORE_READ',
        `cannot read ${name}: its latest writes are not in LevelDB yet (${(cause as Error).message})`,
        { cause },
      )
    }
    return state
  }

  append(name: string, update: Uint8Array): Promise<void> {
    return this.withState(name, (state, group) => {
      if (state.updates === 0 || performance.now() - state.metaAt >= META_INTERVAL_MS) group.metas.add(state)
      else this.metaLater(state)
      const now = Date.now()
      if (state.updates === 0) state.createdAt = now
      group.ops.push({ key: updateKeyAt(state.keyPrefix, state.nextSeq++), value: asBuffer(update) })
      group.bytes += update.byteLength
      state.updatedAt = now
      state.bytes += update.byteLength
      state.records++
      state.updates++
    })
  }

  compact(name: string, state: Uint8Array): Promise<void> {
    const written = this.withState(name, (doc, group) => {
      dropRecords(doc, group)
      const now = Date.now()
      if (doc.updates === 0) doc.createdAt = now
      group.ops.push({ key: updateKeyAt(doc.keyPrefix, doc.nextSeq++), value: asBuffer(state) })
      group.bytes += state.byteLength
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
    return this.withState(name, (doc, group) => {
      dropRecords(doc, group)
      for (let id = 1; id <= doc.versions; id++) {
        group.ops.push({ key: versionKey(name, id), value: null })
        group.ops.push({ key: deltaKey(name, id), value: null })
      }
      if (doc.versions > 0) group.ops.push({ key: headKey(name), value: null })
      doc.bytes = 0
      doc.records = 0
      doc.updates = 0
      doc.versions = 0
    })
  }

  async list(): Promise<DocMeta[]> {
    this.assertOpen()
    this.writeStaleMeta()
    await this.settled()
    const metas: DocMeta[] = []
    await iterate(this.db, { ...metaRange(), keys: true, values: true }, (key, value) => {
      const state = docState(nameOfMetaKey(key), parseMeta(value))
      if (state.records > 0) metas.push(toMeta(state.name, state))
    })
    return metas
  }

  async *records(): AsyncGenerator<StoredRecord> {
    this.assertOpen()
    this.writeStaleMeta()
    await this.settled()
    yield* snapshot(this.db)
  }

  async info(name: string): Promise<DocMeta | null> {
    this.assertOpen()
    const state = await this.state(name)
    return state.records > 0 ? toMeta(state.name, state) : null
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true
      // Writes waiting for their document to be read are written with the rest.
      await Promise.allSettled(this.reading.values())
      this.writeStaleMeta()
      if (this.retryTimer) {
        clearTimeout(this.retryTimer)
        this.retryTimer = null
        if (this.inFlight) this.writeLevel(this.inFlight)
      }
      // A failed LevelDB write leaves its records in the journal, for the next start.
      await this.settled().catch(noop)
      this.closed = true
      if (this.metaTimer) clearTimeout(this.metaTimer)
      await this.journal.close()
      if (this.reclaimTimer) clearTimeout(this.reclaimTimer)
      await this.reclaiming
      await this.reclaim()
      await closeDatabase(this.db)
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

  /** Has LevelDB reclaim the space of what the documents compacted since the last time replaced. */
  private reclaim(): Promise<void> {
    const names = [...this.compacted]
    this.compacted.clear()
    return reclaim(this.db, names)
  }

  /** Has `state`'s metadata record rewritten within META_INTERVAL_MS, with whatever group is next. */
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
    for (const state of this.staleMeta) this.collect(state).metas.add(state)
    this.staleMeta.clear()
    this.scheduleGroup()
  }

  /**
   * Writes what is collected to the journal and LevelDB now, and resolves once LevelDB has it
   * all; rejects when a LevelDB write fails (the journal keeps its records).
   */
  private settled(): Promise<void> {
    this.writeGroup()
    return this.reach(this.next ?? this.inFlight)
  }

  /**
   * Has LevelDB write the batches up to `last` (one queued or in flight) without waiting out
   * their window, and resolves once it has; rejects when one fails. Writes that come meanwhile
   * are not waited for.
   */
  private async reach(last: LevelBatch | null): Promise<void> {
    if (!last) return
    for (;;) {
      const batch = this.inFlight ?? this.next
      if (!batch) return
      this.wantLevel()
      await batch.attempt.promise
      if (batch === last) return
    }
  }

  private assertOpen(): void {
    if (this.closing) throw closedError()
  }

  /**
   * Runs `write` against the document's counters and the group being collected, in call order
   * (a document not yet cached is read first), and returns that group's completion.
   */
  private withState(name: string, write: (state: DocState, group: Group) => void): Promise<void> {
    if (this.closing) return Promise.reject(closedError())
    const cached = this.docs.get(name)
    const enqueue = (state: DocState): Promise<void> => {
      if (this.closed) return Promise.reject(closedError())
      const group = this.collect(state)
      write(state, group)
      this.scheduleGroup()
      return group.promise
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
    const value = await readValue(this.db, metaKey(name), name)
    const state = value ? docState(name, parseMeta(value)) : docState(name, emptyCounters())
    // The keys, not the metadata, say which sequence numbers are taken.
    const range = updateRange(name)
    const [first, last, latestVersion] = await Promise.all([
      edgeKey(this.db, range, 'first'),
      edgeKey(this.db, range, 'last'),
      // Likewise the version keys say which is the latest.
      edgeKey(this.db, versionRange(name), 'last'),
    ])
    if (latestVersion) state.versions = Math.max(state.versions, seqOfUpdateKey(latestVersion))
    if (first && last) {
      const lastSeq = seqOfUpdateKey(last)
      state.firstSeq = seqOfUpdateKey(first)
      state.nextSeq = Math.max(state.nextSeq, lastSeq + 1)
      // Sequence numbers are contiguous from the first record (the metadata may lag after a crash).
      state.records = lastSeq + 1 - state.firstSeq
    } else {
      state.firstSeq = state.nextSeq
    }
    return state
  }

  /** The group being collected, with `state` among the documents it writes. */
  private collect(state: DocState): Group {
    this.group ??= new Group()
    const group = this.group
    if (!group.docs.has(state)) group.docs.set(state, counters(state))
    return group
  }

  /**
   * Writes the collected group once the group-commit window since the last one has passed (with
   * no window, at the end of this turn of the event loop) or the group is full: everything that
   * arrives meanwhile joins it, for one write.
   */
  private scheduleGroup(): void {
    if (this.group) this.groupPace.schedule(this.group.ops.length >= FULL_GROUP_RECORDS || this.draining)
  }

  /**
   * Writes the collected group to the journal: once that returns (and, with `fsync`, the journal
   * is synced) its writes are acknowledged. They join the next LevelDB batch. A refused or failed
   * write leaves no trace: the documents' counters go back to what they were.
   */
  private writeGroup(): void {
    const group = this.group
    this.groupPace.cancel()
    if (!group) return
    this.group = null
    const started = performance.now()
    this.groupPace.lastRun = started
    for (const state of group.metas) {
      this.staleMeta.delete(state)
      state.metaAt = started
      group.ops.push({ key: metaKey(state.name), value: state.updates === 0 ? null : encodeMeta(state) })
    }
    const report = (error: StoreError | null) => this.report('journal', started, group, error)
    const refuse = (error: StoreError) => {
      for (const [state, before] of group.docs) Object.assign(state, before)
      if (!this.closing) for (const state of group.metas) this.metaLater(state)
      report(error)
      group.reject(error)
    }
    // What the journal holds stays bounded: nothing more while the store fails or lags far behind.
    if (this.closed) {
      refuse(closedError())
      return
    }
    if (this.refusal) {
      const { error } = this.refusal
      refuse(
        new StoreError('TANDEM_ERR_STORE_WRITE', `not written until the store recovers (${error.message})`, {
          cause: error,
        }),
      )
      return
    }
    if ((this.next?.bytes ?? 0) + (this.inFlight?.bytes ?? 0) >= MAX_BEHIND_BYTES) {
      const message = `not written: LevelDB is ${MAX_BEHIND_BYTES / 2 ** 20} MiB behind the journal`
      refuse(new StoreError('TANDEM_ERR_STORE_WRITE', message))
      return
    }
    try {
      this.journal.write(group.ops)
    } catch (cause) {
      refuse(asStoreError(cause))
      return
    }
    this.next ??= new LevelBatch()
    const batch = this.next
    for (const op of group.ops) batch.ops.push(op)
    batch.bytes += group.bytes
    for (const state of group.docs.keys()) {
      batch.docs.add(state)
      state.batch = batch
    }
    if (this.options.fsync) {
      this.journal.sync().then(
        () => {
          report(null)
          group.resolve()
        },
        (cause: unknown) => {
          const error = asStoreError(cause)
          // What that sync covered may be lost: refused until LevelDB has it, synced.
          this.refuseUntil(error, this.journal.rotate())
          report(error)
          group.reject(error)
        },
      )
    } else {
      report(null)
      group.resolve()
    }
    this.scheduleLevel()
  }

  private report(
    stage: BatchInfo['stage'],
    started: number,
    { ops, bytes }: { readonly ops: readonly Op[]; readonly bytes: number },
    error: StoreError | null,
  ): void {
    this.options.onBatch?.({
      stage,
      durationMs: performance.now() - started,
      records: ops.length,
      bytes,
      error,
    })
  }

  /** Refuses new writes until a LevelDB batch reaching journal segment `until` (or a later one, if so refused already) is written. */
  private refuseUntil(error: StoreError, until: number): void {
    if (until <= this.applied) return
    this.refusal = { error, until: Math.max(until, this.refusal?.until ?? until) }
    // Refused writes add nothing to LevelDB's next batch: one goes all the same (the mark alone,
    // if need be) to reach that segment.
    this.next ??= new LevelBatch()
    this.scheduleLevel()
  }

  /** Has the next LevelDB batch go as soon as nothing is in flight. */
  private wantLevel(): void {
    this.levelWanted = true
    this.scheduleLevel()
  }

  /** Writes the next LevelDB batch after LEVEL_INTERVAL_MS since the last, or at once if full or wanted. */
  private scheduleLevel(): void {
    const batch = this.next
    if (batch && !this.inFlight)
      this.levelPace.schedule(batch.ops.length >= FULL_LEVEL_RECORDS || this.levelWanted || this.draining)
  }

  private startLevel(): void {
    const batch = this.next
    if (!batch || this.inFlight) return
    this.next = null
    this.levelWanted = false
    this.inFlight = batch
    this.levelPace.lastRun = performance.now()
    // Later groups go to a new segment: the batch holds every write of this one and those before.
    batch.segment = this.journal.rotate()
    this.writeLevel(batch)
  }

  /**
   * Writes a batch to LevelDB with the mark that its segments are applied, then deletes them.
   * Batches are written in order, one at a time: a failed one is written again before any later
   * one (while closing, the rest is left to the journal).
   */
  private writeLevel(batch: LevelBatch): void {
    const started = performance.now()
    writeBatch(this.db, batch.ops, batch.segment, this.options.fsync === true, (err) => {
      const attempt = batch.attempt
      const error = err
        ? new StoreError(
            'TANDEM_ERR_STORE_WRITE',
            `LevelDB write of ${batch.docs.size} document(s) failed: ${err.message}`,
            { cause: err },
          )
        : null
      this.report('leveldb', started, batch, error)
      if (error) {
        this.refuseUntil(error, batch.segment)
        batch.attempt = new Deferred()
        if (this.draining) {
          this.inFlight = null
          this.next?.attempt.reject(error)
          this.next = null
        } else {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null
            this.writeLevel(batch)
          }, LEVEL_RETRY_MS)
        }
        attempt.reject(error)
        return
      }
      this.inFlight = null
      this.applied = batch.segment
      if (this.refusal && batch.segment >= this.refusal.until) this.refusal = null
      this.journal.remove(batch.segment)
      for (const state of batch.docs) if (state.batch === batch) state.batch = null
      attempt.resolve()
      this.forgetIdleDocs()
      this.scheduleLevel()
    })
  }

  private forgetIdleDocs(): void {
    if (this.docs.size <= MAX_CACHED_DOCS) return
    for (const [name, state] of this.docs)
      if (!state.batch && !this.staleMeta.has(state) && !this.group?.docs.has(state)) this.docs.delete(name)
  }
}

/** Deletes every record stored or queued for `doc`, and has its metadata rewritten. */
function dropRecords(doc: DocState, group: Group): void {
  group.metas.add(doc)
  for (let seq = doc.firstSeq; seq < doc.nextSeq; seq++)
    group.ops.push({ key: updateKeyAt(doc.keyPrefix, seq), value: null })
  doc.firstSeq = doc.nextSeq
}

function closedError(): StoreError {
  return new StoreError('TANDEM_ERR_STORE_CLOSED', 'the document store is closed')
}

function asStoreError(cause: unknown): StoreError {
  return cause instanceof StoreError
    ? cause
    : new StoreError('TANDEM_ERR_STORE_WRITE', `journal write failed: ${String(cause)}`, { cause })
}

/** leveldown stores anything but a Buffer as its string form: wrap (no copy) what Yjs hands us. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function docState(name: string, counters: Counters): DocState {
  return { name, keyPrefix: updateKeyPrefix(name), batch: null, ...counters }
}
