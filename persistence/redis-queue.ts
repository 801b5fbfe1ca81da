/**
 * The order of the Redis store's writes: per document, one write at a time in call order, and the
 * appends of one turn of the event loop gathered into one batch (one script call). The batches
 * of every document that are ready at the end of a turn are sent together, so node-redis
 * pipelines them in one write: one round trip for the turn.
 */
import { Deferred } from './pace.js'
import { type DocKeys, docKeys } from './redis-keys.js'
import type { Position, Tracked } from './redis-position.js'

/** Appends to one document in one script call at most (more go in the next). */
const MAX_BATCH_UPDATES = 1000
const MAX_BATCH_BYTES = 8 * 2 ** 20
/**
 * Past this many documents in memory, idle ones without a position are dropped. Those with one
 * stay until forget() (their room unloaded): forgetting a position a live room relies on would
 * let a later load() set one past what that room holds.
 */
const MAX_CACHED_DOCS = 10_000

const noop = (): void => undefined

/** Appends to one document, written with one script call. */
export class AppendBatch {
  /** When its first append was made (performance.now()): the bound on its answer runs from there. */
  readonly startedAt = performance.now()
  readonly updates: Buffer[] = []
  bytes = 0
  /** The turn it was started in has ended: it may go. */
  flushed = false
  sent = false
  readonly done = new Deferred()
}

type Op = AppendBatch | (() => Promise<void>)

/** One document's writes in flight and what the store knows of its log. */
export class DocState implements Tracked {
  readonly keys: DocKeys
  position: Position | null = null
  failures = 0
  cleared = 0
  readGen: string | null = null
  /** Writes in call order; the first runs (or waits for the end of its turn). */
  readonly queue: Op[] = []
  running = false
  /** The latest compaction (never rejects), and how many are under way. */
  compacting: Promise<void> = Promise.resolve()
  compactions = 0
  /** Dropped once idle (see DocQueues.forget). */
  forgotten = false

  constructor(
    readonly name: string,
    namespace: string,
  ) {
    this.keys = docKeys(namespace, name)
  }

  get idle(): boolean {
    return !this.running && this.queue.length === 0 && this.compactions === 0
  }
}

export class DocQueues {
  private readonly docs = new Map<string, DocState>()
  /** Documents with a batch started in this turn. */
  private readonly unflushed = new Set<DocState>()
  private flushTimer: NodeJS.Immediate | null = null
  /** Size past which the next look for idle documents to drop is made (amortised: see there). */
  private dropAt = MAX_CACHED_DOCS

  constructor(
    private readonly namespace: string,
    /** Writes a batch; settles its `done`, never rejects. */
    private readonly send: (doc: DocState, batch: AppendBatch) => Promise<void>,
  ) {}

  /** The document's state, created if need be. */
  get(name: string): DocState {
    let doc = this.docs.get(name)
    if (doc) doc.forgotten = false
    else {
      doc = new DocState(name, this.namespace)
      this.docs.set(name, doc)
    }
    return doc
  }

  /** The document's state, if the store has one. */
  peek(name: string): DocState | undefined {
    return this.docs.get(name)
  }

  /** Drops what is known of the document, once its writes are done. */
  forget(name: string): void {
    const doc = this.docs.get(name)
    if (!doc) return
    doc.forgotten = true
    this.dropIfIdle(doc)
  }

  private dropIfIdle(doc: DocState): void {
    if (doc.forgotten && doc.idle && !this.unflushed.has(doc) && this.docs.get(doc.name) === doc)
      this.docs.delete(doc.name)
  }

  /** Adds `update` to the document's batch collecting in this turn; settles with that batch. */
  append(doc: DocState, update: Buffer): Promise<void> {
    const last = doc.queue.at(-1)
    let batch =
      last instanceof AppendBatch &&
      !last.sent &&
      last.updates.length < MAX_BATCH_UPDATES &&
      last.bytes < MAX_BATCH_BYTES
        ? last
        : null
    if (!batch) {
      batch = new AppendBatch()
      doc.queue.push(batch)
    }
    batch.updates.push(update)
    batch.bytes += update.byteLength
    this.unflushed.add(doc)
    this.flushTimer ??= setImmediate(() => this.flush())
    return batch.done.promise
  }

  /** Runs `work` once the document's earlier writes are done; its later ones wait for it. */
  inOrder<T>(doc: DocState, work: (doc: DocState) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      doc.queue.push(() => {
        const ran = work(doc)
        ran.then(resolve, reject)
        return ran.then(noop, noop)
      })
      this.pump(doc)
    })
  }

  /** Ends this turn's batches: each goes as soon as its document's earlier writes are done. */
  flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer)
    this.flushTimer = null
    for (const doc of this.unflushed) {
      for (const op of doc.queue) if (op instanceof AppendBatch) op.flushed = true
      this.pump(doc)
    }
    this.unflushed.clear()
  }

  /** Resolves once the document's writes made so far, compactions included, are done (or failed). */
  async drained(doc: DocState): Promise<void> {
    if (doc.idle) return
    await this.inOrder(doc, async () => undefined)
    await doc.compacting
  }

  /** Resolves once every write made so far is done (or failed). */
  async settled(): Promise<void> {
    await Promise.all([...this.docs.values()].map((doc) => this.drained(doc)))
  }

  private pump(doc: DocState): void {
    if (doc.running) return
    const op = doc.queue[0]
    if (!op || (op instanceof AppendBatch && !op.flushed)) return
    doc.running = true
    const ran = op instanceof AppendBatch ? this.send(doc, op) : op()
    void ran.then(() => {
      doc.running = false
      doc.queue.shift()
      this.pump(doc)
      this.dropIfIdle(doc)
      if (this.docs.size > this.dropAt) this.dropUnpositioned()
    })
  }

  /** Called when a compaction ends (the last thing that can keep a document busy). */
  compactionDone(doc: DocState): void {
    doc.compactions--
    this.dropIfIdle(doc)
  }

  private dropUnpositioned(): void {
    for (const [name, doc] of this.docs) {
      if (this.docs.size <= MAX_CACHED_DOCS * 0.9) break
      if (doc.position === null && doc.idle && !this.unflushed.has(doc)) this.docs.delete(name)
    }
    // When most have a position, the next look waits for a tenth more documents: no scan per write.
    this.dropAt = Math.max(MAX_CACHED_DOCS, Math.ceil(this.docs.size * 1.1))
  }
}
