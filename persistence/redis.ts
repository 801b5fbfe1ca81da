/**
 * A document store on Redis, for several server nodes sharing documents (cluster mode).
 *
 * Layout (redis-keys.ts): per document, under one hash tag (one Redis Cluster slot), a stream of
 * appended updates (each entry: the update and the id of the node that wrote it), a compacted
 * state, a metadata hash, the versions (two lists and a head) and a compaction lock; beside them a
 * sorted set of names for list() and backups. Every write of a document, and every read that must
 * see one whole, is one Lua script (redis-scripts.ts) rather than MULTI/EXEC: atomic all the same,
 * but it can branch on what it reads (the compaction does), and with its shebang flags Redis
 * refuses a write script whole when out of memory instead of failing halfway.
 *
 * Appends. What is appended to a document in one turn of the event loop goes in one script call,
 * and the calls of every document of that turn leave together (node-redis writes what is sent in
 * one turn in one go): one round trip for the lot. A document's writes go one at a time, in call
 * order (its next batch collects while one is in flight: group commit). append() resolves once
 * Redis ran the script; with `appendfsync always` the entries are in the AOF by then.
 *
 * Compaction while other nodes append (redis-position.ts has the bookkeeping). The store keeps per
 * document a position `included`: every entry up to it is in the caller's document (the room's).
 * The first load() sets it to the last entry; an append moves it to its own last entry only if
 * the script says the entry before its first was the one at `included`, so another node's entry
 * in between stops it until the cluster relay has read and applied that entry (readSince(),
 * markIncluded()). A compaction takes the position when its turn comes, after the appends asked
 * for before it and before any markIncluded() asked for after it (its state has exactly those),
 * and its script trims exactly the entries up to it (XTRIM MINID, the next id) while replacing the
 * compacted state; entries that came since, from anyone, stay. Replacing the state is safe when
 * the new one holds everything the old one did: so a compaction whose position is behind the one
 * the stored state was made at (another node compacted further) writes nothing, everything its
 * caller holds being in the log or that state already; and a caller that may hold what no entry
 * holds (an append failed or timed out, the document was recreated under it, its position is
 * unknown) appends its state as an ordinary entry instead, replacing nothing, which other nodes
 * then read like any update. A generation in the metadata, new each time a document is created,
 * keeps ids of a deleted document from being taken for the new one's.
 * One node compacts a document at a time: it takes a lock (SET NX PX, a random token) before the
 * script, and the script releases it (compare and delete) first thing: being atomic, it needs the
 * lock no longer. The lock saves duplicate work; correctness rests on the script, so a lock that
 * expires under a stalled node loses nothing. Waiting for the lock holds up none of the
 * document's appends: they are past the compaction's position either way.
 *
 * Bounds. Every command must be answered within `commandTimeoutMs` (default 5 s) of being queued,
 * sent or not (node-redis `timeout` with `rejectInFlight`), and an append within that time of its
 * call, however long its batch waited behind the document's earlier writes. While Redis is
 * unreachable (node-redis reconnects, `reconnectMaxDelayMs` apart at most, default 1 s) append()
 * so rejects within `commandTimeoutMs` (plus the end of the turn): nothing queues for later. A
 * command timed out after it was sent may still be applied, whole; the caller's next compaction
 * then appends its state. At most `maxQueuedCommands` commands wait in the client. A compaction
 * waits `lockWaitMs` at most for another node's lock, and close() waits for it.
 *
 * Backups: records() reads each document with one script (each is a state it passed through;
 * documents are not read at one instant together) and yields the records of the LevelDB layout
 * (persistence/keys.ts), so `tandem backup` of a cluster is a data directory one node starts on.
 *
 * Redis itself must keep what it acknowledged: `appendonly yes` with `appendfsync always` (or
 * `everysec`: a second at most lost to a power cut), and a `maxmemory-policy` that never evicts
 * these keys (`noeviction`, or `volatile-*`: they have no TTL). Redis 7.0 or later.
 * Not done here: the relay between nodes (server/cluster.ts) that will use readSince(),
 * markIncluded() and forget(); Redis Cluster, which refuses the scripts' writes to the index key
 * beside a document's keys (another slot).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { parseVersion } from './meta.js'
import { connectRedis, type RedisConnection } from './redis-client.js'
import { compareIds, docKeys, indexKey, isEntryId, unescapeName } from './redis-keys.js'
import {
  appended,
  type Capture,
  capture,
  compacted,
  compactionArgs,
  deleted,
  failed,
  included,
  loaded,
} from './redis-position.js'
import { type AppendBatch, DocQueues, type DocState } from './redis-queue.js'
import {
  asArray,
  asBytes,
  asInteger,
  asText,
  backupRecords,
  type LogEntry,
  parseEntries,
  parseMeta,
  parseSnapshot,
  toDocMeta,
} from './redis-records.js'
import {
  ADD_VERSION,
  APPEND,
  COMPACT,
  DELETE,
  LOAD,
  READ_SINCE,
  RELEASE,
  SNAPSHOT,
  VERSIONS,
} from './redis-scripts.js'
import {
  type DocMeta,
  type DocStore,
  type LoadedDoc,
  type StoredRecord,
  StoreError,
  type VersionList,
  type VersionRecord,
} from './store.js'

export { redactUrl } from './redis-client.js'
export type { LogEntry } from './redis-records.js'

export interface RedisStoreOptions {
  /** `redis[s]://[[user]:password@]host[:port][/db]`. */
  readonly url: string
  /** This node's id, written with each entry it appends. Default: a random UUID. */
  readonly nodeId?: string
  /** First part of every key (letters, digits, `_.:-`). Default `tandem`. */
  readonly namespace?: string
  /** How long opening keeps trying to reach Redis, in ms. Default 5000. */
  readonly connectTimeoutMs?: number
  /** How long a command (an append: from its call) may wait to be sent and answered, in ms. Default 5000. */
  readonly commandTimeoutMs?: number
  /** Longest wait between reconnection attempts, in ms. Default 1000. */
  readonly reconnectMaxDelayMs?: number
  /** How long a compaction lock lasts if its holder never releases it, in ms. Default 10000. */
  readonly lockTtlMs?: number
  /** How long a compaction waits for another node's lock before it fails, in ms. Default 15000. */
  readonly lockWaitMs?: number
  /** Commands that may wait in the client (while Redis is slow or unreachable). Default 10000. */
  readonly maxQueuedCommands?: number
  /** Told about each connection error (node-redis reconnects by itself), for logs. */
  readonly onConnectionError?: (error: Error) => void
}

export const REDIS_STORE_DEFAULTS = {
  namespace: 'tandem',
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
  reconnectMaxDelayMs: 1000,
  lockTtlMs: 10_000,
  lockWaitMs: 15_000,
  maxQueuedCommands: 10_000,
} as const

/** What readSince() read. */
export interface LogRead {
  /**
   * The compacted state, when entries after the id asked for were compacted into it (apply it
   * before the entries); null otherwise.
   */
  readonly state: Uint8Array | null
  /** The entries after the id, in order, at most the limit asked for. */
  readonly entries: readonly LogEntry[]
  /** Where the caller is once it applied what was read: the id to read after next time. */
  readonly lastId: string
  /** True when the limit cut the read short: read again from `lastId`. */
  readonly more: boolean
}

/** A DocStore on Redis, with what the cluster relay needs on top. */
export interface RedisDocStore extends DocStore {
  readonly nodeId: string
  /** The settings the store was opened with (its connection's, for the cluster relay's own). */
  readonly settings: Readonly<RedisStoreSettings>
  /** Whether the store's connection to Redis is up (false while it reconnects). */
  readonly connected: boolean
  /**
   * For the cluster relay: the entries of `name` after entry `afterId` (`0-0`: from the start), at
   * most `limit` (default 1000), and the compacted state when entries after `afterId` are only in
   * it. Entries this node appended are among them (`node === nodeId`). Rejects with
   * `TANDEM_ERR_STORE_READ`; throws a RangeError for a malformed id.
   */
  readSince(name: string, afterId: string, limit?: number): Promise<LogRead>
  /**
   * For the cluster relay: the caller's document now holds every entry of `name` up to `id` (it
   * applied what readSince() returned, from its position on), so compactions may trim them.
   * Takes effect after the writes to `name` asked for before it (a compaction asked for before
   * has a state without those entries). Ignored when it would not move the position forward, or
   * when the document was deleted or recreated since the read.
   */
  markIncluded(name: string, id: string): void
  /**
   * Where the relay starts reading `name`: every entry up to this id is in the caller's document
   * (from load(), its own appends and markIncluded(), once the writes before those are done).
   * null when the store does not know.
   */
  includedId(name: string): string | null
  /**
   * The caller no longer holds `name` (its room unloaded): the store drops its position (kept
   * until then, so that a read by someone else cannot move it past what the room holds) once the
   * writes made so far are done. The next load() takes a fresh one.
   */
  forget(name: string): void
}

export type RedisStoreSettings = Required<Omit<RedisStoreOptions, 'onConnectionError'>> &
  Pick<RedisStoreOptions, 'onConnectionError'>
type Settings = RedisStoreSettings

/** Wait between two attempts at another node's compaction lock, in ms (plus as much at random). */
const LOCK_RETRY_MS = 20
/** Documents read per pipeline by list() and records(). */
const READ_CHUNK = 64
const DEFAULT_READ_LIMIT = 1000
const META_FIELDS = ['gen', 'last', 'stateId', 'createdAt', 'updatedAt', 'bytes', 'records', 'updates']

const noop = (): void => undefined

/**
 * Connects to Redis and returns the store once the connection works and its scripts are loaded.
 * Rejects with `TANDEM_ERR_STORE_OPEN` (naming the URL, without its password) when the URL is
 * bad, Redis cannot be reached within `connectTimeoutMs`, or is older than 7.0; with a
 * RangeError naming the option for an invalid one.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<RedisDocStore> {
  const settings = validate(options)
  return new RedisStore(await connectRedis(settings), settings)
}

function validate(options: RedisStoreOptions): Settings {
  const d = REDIS_STORE_DEFAULTS
  const settings: Settings = {
    url: options.url,
    nodeId: options.nodeId ?? randomUUID(),
    namespace: options.namespace ?? d.namespace,
    connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs ?? d.commandTimeoutMs,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
    lockTtlMs: options.lockTtlMs ?? d.lockTtlMs,
    lockWaitMs: options.lockWaitMs ?? d.lockWaitMs,
    maxQueuedCommands: options.maxQueuedCommands ?? d.maxQueuedCommands,
    onConnectionError: options.onConnectionError,
  }
  if (typeof settings.url !== 'string' || settings.url === '')
    throw new RangeError(`url: expected a redis:// URL, got ${JSON.stringify(settings.url)}`)
  // Printable ASCII without spaces: it is a field of the messages the scripts publish.
  if (typeof settings.nodeId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(settings.nodeId))
    throw new RangeError(
      `nodeId: expected 1 to 200 printable ASCII characters without spaces, got ${JSON.stringify(settings.nodeId)}`,
    )
  if (typeof settings.namespace !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(settings.namespace))
    throw new RangeError(
      `namespace: expected letters, digits and _.:-, got ${JSON.stringify(settings.namespace)}`,
    )
  for (const key of [
    'connectTimeoutMs',
    'commandTimeoutMs',
    'reconnectMaxDelayMs',
    'lockTtlMs',
    'lockWaitMs',
    'maxQueuedCommands',
  ] as const) {
    const value = settings[key]
    const least = key === 'lockWaitMs' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < least)
      throw new RangeError(`${key}: expected an integer of at least ${least}, got ${String(value)}`)
  }
  return settings
}

class RedisStore implements RedisDocStore {
  readonly nodeId: string
  private readonly docs: DocQueues
  private readonly index: string
  private closing: Promise<void> | null = null

  constructor(
    private readonly redis: RedisConnection,
    readonly settings: Settings,
  ) {
    this.nodeId = settings.nodeId
    this.index = indexKey(settings.namespace)
    this.docs = new DocQueues(settings.namespace, (doc, batch) => this.send(doc, batch))
  }

  get connected(): boolean {
    return this.redis.ready
  }

  load(name: string): Promise<LoadedDoc> {
    return this.inOrder(name, async (doc) => {
      const { keys } = doc
      const read = await this.read(`cannot load ${JSON.stringify(name)}`, async () => {
        const [meta, state, entries] = asArray(
          await this.redis.eval(LOAD, [keys.meta, keys.log, keys.state], []),
          'load',
        )
        return { meta: parseMeta(meta), state: asBytes(state, 'state'), entries: parseEntries(entries) }
      })
      const { meta } = read
      loaded(doc, meta.gen, meta.last)
      const updates: Uint8Array[] = read.entries.map((entry) => entry.update)
      if (read.state) updates.unshift(read.state)
      if (meta.gen === null) return { updates, meta: null }
      const { createdAt, updatedAt, bytes, records, updates: count } = meta
      return { updates, meta: { name, createdAt, updatedAt, bytes, records, updates: count } }
    })
  }

  append(name: string, update: Uint8Array): Promise<void> {
    if (this.closing) return Promise.reject(closedError())
    return this.docs.append(this.docs.get(name), asBuffer(update))
  }

  compact(name: string, state: Uint8Array): Promise<void> {
    const bytes = asBuffer(state)
    return this.inOrder(name, async (doc) => {
      const at = capture(doc)
      doc.compactions++
      const run = doc.compacting.then(() => this.compactNow(doc, bytes, at))
      doc.compacting = run.then(noop, noop).finally(() => this.docs.compactionDone(doc))
      // The document's later writes need not wait for the lock: they are past `included`.
      return { run }
    }).then(({ run }) => run)
  }

  delete(name: string): Promise<void> {
    return this.inOrder(name, async (doc) => {
      await doc.compacting
      const { keys } = doc
      try {
        await this.redis.eval(
          DELETE,
          [keys.meta, keys.log, keys.state, keys.versions, keys.deltas, keys.head, keys.lock, this.index],
          [keys.escaped, keys.channel, this.nodeId],
        )
      } catch (cause) {
        throw this.redis.failure('TANDEM_ERR_STORE_WRITE', `cannot delete ${JSON.stringify(name)}`, cause)
      }
      deleted(doc)
    })
  }

  addVersion(
    name: string,
    version: Omit<VersionRecord, 'id'>,
    delta: Uint8Array,
    head: Uint8Array,
  ): Promise<VersionRecord> {
    // Stored as `{"id":<n>,` and this: the script numbers it.
    const rest = JSON.stringify({ at: version.at, name: version.name, authors: version.authors }).slice(1)
    return this.inOrder(name, async (doc) => {
      const { keys } = doc
      let id: number
      try {
        const reply = await this.redis.eval(
          ADD_VERSION,
          [keys.versions, keys.deltas, keys.head, this.index],
          [keys.escaped, rest, asBuffer(delta), asBuffer(head)],
        )
        id = asInteger(reply, 'version id')
      } catch (cause) {
        throw this.redis.failure(
          'TANDEM_ERR_STORE_WRITE',
          `cannot add a version to ${JSON.stringify(name)}`,
          cause,
        )
      }
      return { id, at: version.at, name: version.name, authors: version.authors }
    })
  }

  async versions(name: string): Promise<VersionList> {
    const keys = await this.afterWrites(name)
    return this.read(`cannot read the versions of ${JSON.stringify(name)}`, async () => {
      const [records, head] = asArray(
        await this.redis.eval(VERSIONS, [keys.versions, keys.head], []),
        'versions',
      )
      return {
        versions: asArray(records, 'versions').map((record) =>
          parseVersion(asBytes(record, 'version') ?? Buffer.alloc(0)),
        ),
        head: asBytes(head, 'head'),
      }
    })
  }

  async versionDeltas(name: string, id: number): Promise<Uint8Array[]> {
    const keys = await this.afterWrites(name)
    if (!(id >= 1)) return []
    return this.read(`cannot read the versions of ${JSON.stringify(name)}`, async () => {
      const reply = await this.redis.command(['LRANGE', keys.deltas, '0', String(Math.floor(id) - 1)])
      return asArray(reply, 'deltas').map((delta) => asBytes(delta, 'delta') ?? Buffer.alloc(0))
    })
  }

  async info(name: string): Promise<DocMeta | null> {
    const keys = await this.afterWrites(name)
    return this.read(`cannot read ${JSON.stringify(name)}`, async () =>
      toDocMeta(name, parseMeta(await this.redis.command(['HMGET', keys.meta, ...META_FIELDS]))),
    )
  }

  async list(): Promise<DocMeta[]> {
    this.assertOpen()
    await this.docs.settled()
    const names = await this.names()
    const metas: DocMeta[] = []
    for (let i = 0; i < names.length; i += READ_CHUNK) {
      const chunk = names.slice(i, i + READ_CHUNK)
      const replies = await this.read('cannot list the documents', () =>
        Promise.all(
          chunk.map(async (name) => {
            const { meta } = docKeys(this.settings.namespace, name)
            return toDocMeta(name, parseMeta(await this.redis.command(['HMGET', meta, ...META_FIELDS])))
          }),
        ),
      )
      for (const meta of replies) if (meta) metas.push(meta)
    }
    return metas
  }

  async *records(): AsyncGenerator<StoredRecord> {
    this.assertOpen()
    await this.docs.settled()
    const names = await this.names()
    for (let i = 0; i < names.length; i += READ_CHUNK) {
      const chunk = names.slice(i, i + READ_CHUNK)
      // One script per document: each is read whole, as it was at one point.
      const docs = await this.read('cannot read the documents for a backup', () =>
        Promise.all(
          chunk.map(async (name) => {
            const k = docKeys(this.settings.namespace, name)
            const keys = [k.meta, k.log, k.state, k.versions, k.deltas, k.head]
            return parseSnapshot(await this.redis.eval(SNAPSHOT, keys, []))
          }),
        ),
      )
      for (let j = 0; j < chunk.length; j++) yield* backupRecords(chunk[j]!, docs[j]!)
    }
  }

  async readSince(name: string, afterId: string, limit = DEFAULT_READ_LIMIT): Promise<LogRead> {
    this.assertOpen()
    if (!isEntryId(afterId))
      throw new RangeError(`afterId: not a stream entry id: ${JSON.stringify(afterId)}`)
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`limit: expected a positive integer, got ${limit}`)
    const keys = docKeys(this.settings.namespace, name)
    const read = await this.read(`cannot read the log of ${JSON.stringify(name)}`, async () => {
      const reply = await this.redis.eval(
        READ_SINCE,
        [keys.meta, keys.log, keys.state],
        [afterId, String(limit)],
      )
      const [meta, state, entries] = asArray(reply, 'read')
      return { meta: parseMeta(meta), state: asBytes(state, 'state'), entries: parseEntries(entries) }
    })
    this.docs.get(name).readGen = read.meta.gen ?? ''
    let lastId = read.entries.at(-1)?.id ?? afterId
    if (read.state && compareIds(read.meta.stateId, lastId) > 0) lastId = read.meta.stateId
    return { state: read.state, entries: read.entries, lastId, more: read.entries.length === limit }
  }

  markIncluded(name: string, id: string): void {
    if (!isEntryId(id)) throw new RangeError(`id: not a stream entry id: ${JSON.stringify(id)}`)
    const doc = this.docs.peek(name)
    // In call order with the document's writes: a compaction asked for before this has a state
    // without those entries, and must not see them as included when its turn comes.
    if (doc) void this.docs.inOrder(doc, async () => included(doc, id))
  }

  includedId(name: string): string | null {
    return this.docs.peek(name)?.position?.included ?? null
  }

  forget(name: string): void {
    this.docs.forget(name)
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.docs.flush()
      await this.docs.settled()
      await this.redis.close()
    })()
    return this.closing
  }

  /** Writes one batch of appends (never rejects: it settles the batch). */
  private async send(doc: DocState, batch: AppendBatch): Promise<void> {
    batch.sent = true
    const { keys } = doc
    const count = batch.updates.length
    const what = `cannot append ${count === 1 ? 'an update' : `${count} updates`} to ${JSON.stringify(doc.name)}`
    // Bounded from the first append, not from the end of its wait behind earlier writes.
    const deadline = batch.startedAt + this.settings.commandTimeoutMs
    try {
      if (performance.now() >= deadline)
        throw new StoreError(
          'TANDEM_ERR_STORE_WRITE',
          `${what}: no answer from Redis within ${this.settings.commandTimeoutMs} ms (it waited behind earlier writes)`,
        )
      const reply = await this.redis.eval(
        APPEND,
        [keys.meta, keys.log, this.index],
        [keys.escaped, this.nodeId, String(Date.now()), newGeneration(), keys.channel, ...batch.updates],
        deadline,
      )
      const [gen, prev, last, created] = asArray(reply, 'append')
      appended(doc, {
        gen: asText(gen, 'gen') ?? '',
        prev: asText(prev, 'prev') ?? '',
        last: asText(last, 'last') ?? '',
        created: asInteger(created, 'created') === 1,
      })
      batch.done.resolve()
    } catch (cause) {
      // Perhaps applied all the same (an answer that came too late): either way the caller's
      // document may now hold what no entry holds.
      failed(doc)
      batch.done.reject(this.redis.failure('TANDEM_ERR_STORE_WRITE', what, cause))
    }
  }

  /** Runs one compaction: takes the lock (waiting for another node's), then the script. */
  private async compactNow(doc: DocState, state: Buffer, at: Capture): Promise<void> {
    const { keys } = doc
    const what = `cannot compact ${JSON.stringify(doc.name)}`
    const token = `${this.nodeId}:${randomBytes(9).toString('base64url')}`
    const deadline = performance.now() + this.settings.lockWaitMs
    for (;;) {
      let reply: unknown[] = ['busy']
      try {
        const locked = await this.redis.command([
          'SET',
          keys.lock,
          token,
          'NX',
          'PX',
          String(this.settings.lockTtlMs),
        ])
        if (locked !== null) {
          const args = [keys.escaped, this.nodeId, String(Date.now()), newGeneration(), ...compactionArgs(at)]
          const keyList = [keys.meta, keys.log, keys.state, keys.lock, this.index]
          reply = asArray(
            await this.redis.eval(COMPACT, keyList, [...args, token, state, keys.channel]),
            'compact',
          )
        }
      } catch (cause) {
        this.redis.eval(RELEASE, [keys.lock], [token]).catch(noop)
        throw this.redis.failure('TANDEM_ERR_STORE_WRITE', what, cause)
      }
      const mode = asText(reply[0], 'mode')
      if (mode === 'compacted' || mode === 'appended' || mode === 'dropped') {
        compacted(doc, at, {
          mode,
          gen: asText(reply[1], 'gen') ?? '',
          prev: asText(reply[2], 'prev') ?? '',
          entry: asText(reply[3], 'entry') ?? '',
          created: asInteger(reply[4], 'created') === 1,
        })
        return
      }
      if (performance.now() >= deadline)
        throw new StoreError(
          'TANDEM_ERR_STORE_WRITE',
          `${what}: another node has held its compaction lock for ${this.settings.lockWaitMs} ms`,
        )
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS * (1 + Math.random())))
    }
  }

  /** Runs `work` once the document's earlier writes are done; rejects once the store is closing. */
  private inOrder<T>(name: string, work: (doc: DocState) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(closedError())
    return this.docs.inOrder(this.docs.get(name), work)
  }

  /** The document's keys, once this store's writes to it made so far are done (or failed). */
  private async afterWrites(name: string) {
    this.assertOpen()
    const doc = this.docs.peek(name)
    if (doc) await this.docs.drained(doc)
    return doc?.keys ?? docKeys(this.settings.namespace, name)
  }

  /** Every document name in the index, ordered by name (as UTF-8 bytes, like the LevelDB store). */
  private async names(): Promise<string[]> {
    const members = await this.read('cannot list the documents', async () =>
      asArray(await this.redis.command(['ZRANGE', this.index, '0', '-1']), 'index').map((member) =>
        unescapeName(asText(member, 'index member') ?? ''),
      ),
    )
    return members.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  }

  /** Runs a read, turning its failure into `TANDEM_ERR_STORE_READ`. */
  private async read<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (cause) {
      throw this.redis.failure('TANDEM_ERR_STORE_READ', what, cause)
    }
  }

  private assertOpen(): void {
    if (this.closing) throw closedError()
  }
}

function newGeneration(): string {
  return randomBytes(9).toString('base64url')
}

function closedError(): StoreError {
  return new StoreError('TANDEM_ERR_STORE_CLOSED', 'the document store is closed')
}

/** The bytes as a Buffer, without a copy (node-redis would send anything else as text). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
