/**
 * A room's version history: records a version when a burst of editing goes quiet, at the latest
 * every `versionIntervalMs` while editing goes on, on request (a named version), and before the
 * room is unloaded; each knows who edited since the previous one. What a version stores is a
 * delta (see versions.ts), so history costs about the edits, not versions × document size.
 */
import * as Y from 'yjs'
import type { Author, DocStore, VersionRecord } from '../persistence/store.js'
import type { Connection } from './connection.js'
import { versionDelta } from './versions.js'

export interface HistoryOptions {
  readonly store: DocStore
  /** A version is recorded once the document had no change for this long; 0 records none automatically. */
  readonly versionQuietMs: number
  /** …and at the latest this long after the first change not in a version. */
  readonly versionIntervalMs: number
  /** Who a connection's user is, read when a version is recorded or the connection leaves. */
  authorOf(connection: Connection): Author
}

interface Head {
  readonly id: number
  readonly snapshot: Y.Snapshot
}

export class History {
  /** The latest version's number and snapshot; undefined until read from the store. */
  private head: Head | null | undefined = undefined
  /** Who changed the document since the latest version (keyed by id and name)… */
  private readonly authors = new Map<string, Author>()
  /** …and the connections that did, named when the version is recorded or when they leave. */
  private readonly editors = new Set<Connection>()
  /** performance.now() of the first and the latest change not in a version (0: none). */
  private firstChangeAt = 0
  private lastChangeAt = 0
  private timer: NodeJS.Timeout | null = null
  /** Versions are recorded one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve()
  private destroyed = false

  constructor(
    private readonly name: string,
    /** The document as it is now (a room integrates its backlog first). */
    private readonly doc: () => Y.Doc,
    private readonly options: HistoryOptions,
  ) {}

  /** Counts a change from `connection` (null: the server's own); called for every transaction. */
  changed(connection: Connection | null): void {
    const now = performance.now()
    if (this.firstChangeAt === 0) this.firstChangeAt = now
    this.lastChangeAt = now
    if (connection) this.editors.add(connection)
    if (!this.timer && this.options.versionQuietMs > 0 && !this.destroyed)
      this.arm(this.options.versionQuietMs)
  }

  /** Counts `author` among those who edited since the latest version (a change made through the API). */
  credit(author: Author): void {
    this.authors.set(authorKey(author), author)
  }

  /** Names `connection` now if it edited: its name is known only while it is there. */
  left(connection: Connection): void {
    if (this.editors.delete(connection)) this.credit(this.options.authorOf(connection))
  }

  /** Whether some change is not in a version yet. */
  get pending(): boolean {
    return this.firstChangeAt !== 0
  }

  /**
   * Records a version now: named, or automatic (then only if the document changed since the
   * latest). Resolves with it, or null when there was nothing to record. Rejects with the store's
   * error; the changes then stay pending for the next version.
   */
  record(name: string | null = null): Promise<VersionRecord | null> {
    const recorded = this.chain.then(() => this.cut(name))
    this.chain = recorded.catch(() => undefined)
    return recorded
  }

  /** Stops the timer; a version not yet handed to the store is not recorded. */
  destroy(): void {
    this.destroyed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.tick, delayMs)
    this.timer.unref()
  }

  /** Not rescheduled on every change (that would be a timer per update): it checks when it fires. */
  private readonly tick = (): void => {
    this.timer = null
    if (this.destroyed || !this.pending) return
    const now = performance.now()
    const quietFor = now - this.lastChangeAt
    const pendingFor = now - this.firstChangeAt
    const { versionQuietMs, versionIntervalMs } = this.options
    if (quietFor >= versionQuietMs || pendingFor >= versionIntervalMs) {
      this.record().catch(() => {
        // Kept pending: the next change or the unload tries again.
      })
      return
    }
    this.arm(Math.min(versionQuietMs - quietFor, versionIntervalMs - pendingFor))
  }

  private async cut(name: string | null): Promise<VersionRecord | null> {
    this.head ??= await this.readHead()
    // Destroyed meanwhile (the document deleted): a version written now would outlive it.
    if (this.destroyed) return null
    const head = this.head
    const doc = this.doc()
    const snapshot = Y.snapshot(doc)
    for (const connection of this.editors) this.credit(this.options.authorOf(connection))
    this.editors.clear()
    if (name === null && head && Y.equalSnapshots(snapshot, head.snapshot)) {
      this.firstChangeAt = 0
      this.authors.clear()
      return null
    }
    const delta = versionDelta(doc, snapshot, head?.snapshot ?? null)
    const authors = [...this.authors.values()]
    const changedAt = this.lastChangeAt
    // Changes made while the write is in flight belong to the next version.
    this.firstChangeAt = 0
    this.authors.clear()
    try {
      const record = await this.options.store.addVersion(
        this.name,
        { at: Date.now(), name, authors },
        delta,
        Y.encodeSnapshot(snapshot),
      )
      this.head = { id: record.id, snapshot }
      return record
    } catch (error) {
      if (this.firstChangeAt === 0) this.firstChangeAt = changedAt || performance.now()
      for (const author of authors) this.credit(author)
      throw error
    }
  }

  private async readHead(): Promise<Head | null> {
    const { versions, head } = await this.options.store.versions(this.name)
    const latest = versions.at(-1)
    return latest && head ? { id: latest.id, snapshot: Y.decodeSnapshot(head) } : null
  }
}

function authorKey(author: Author): string {
  return `${author.id}\u0000${author.name ?? ''}`
}
