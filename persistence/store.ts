/** What Tandem keeps about each stored document besides its updates. */
export interface DocMeta {
  readonly name: string
  /** When the first update was stored, ms since the epoch. */
  readonly createdAt: number
  /** When the last update (or compaction) was stored, ms since the epoch. */
  readonly updatedAt: number
  /** Bytes of update records currently stored. */
  readonly bytes: number
  /** Update records currently stored (1 right after a compaction). */
  readonly records: number
  /** Updates ever appended, compactions included. */
  readonly updates: number
}

/** Someone who edited a document between two versions. */
export interface Author {
  /** The token's `sub` (or `anonymous` with auth off). */
  readonly id: string
  /** The token's `name`, or with auth off the name the editor chose. */
  readonly name?: string
}

/** One recorded version of a document: a point in its history that can be shown or restored. */
export interface VersionRecord {
  /** 1 for the first version of the document, then 2, 3, … */
  readonly id: number
  /** When it was recorded, ms since the epoch. */
  readonly at: number
  /** A name given on request; null for a version recorded automatically. */
  readonly name: string | null
  /** Who edited the document since the previous version. */
  readonly authors: readonly Author[]
}

/** A document's versions, oldest first, with the snapshot of the latest (`Y.encodeSnapshot`). */
export interface VersionList {
  readonly versions: readonly VersionRecord[]
  /** null while the document has no version. */
  readonly head: Uint8Array | null
}

/** One raw record of a store (a backup copies them as they are). */
export interface StoredRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

export interface LoadedDoc {
  /** Every stored update of the document, in append order; empty for a new document. */
  readonly updates: readonly Uint8Array[]
  /** `null` for a document that has never been stored. */
  readonly meta: DocMeta | null
}

/**
 * Bytes on disk for named documents. Knows nothing of sockets or rooms.
 *
 * Writes (`append`, `compact`, `delete`) are applied in call order. A returned promise resolves only
 * once the write is durable (on disk, or synced to it when the store syncs), and rejects with a
 * {@link StoreError} when it is not; a rejected write left nothing half-done.
 */
export interface DocStore {
  /** Resolves with every stored update of `name`. */
  load(name: string): Promise<LoadedDoc>
  /** Stores one update as its own record; many appends made together share one write. */
  append(name: string, update: Uint8Array): Promise<void>
  /**
   * Atomically replaces every record stored or queued so far for `name` with `state`, which must
   * contain all of them (for example `Y.encodeStateAsUpdate(doc)` of a doc that applied them).
   */
  compact(name: string, state: Uint8Array): Promise<void>
  /** Removes the document, its versions and its metadata. */
  delete(name: string): Promise<void>
  /**
   * Stores the next version of `name` (numbered one past its last) with `delta`, the Yjs update
   * that takes the previous version to this one, and makes `head` (the new version's encoded
   * snapshot) the document's head, in one atomic write. Resolves with the record stored.
   */
  addVersion(
    name: string,
    version: Omit<VersionRecord, 'id'>,
    delta: Uint8Array,
    head: Uint8Array,
  ): Promise<VersionRecord>
  /** Every version of `name`, oldest first, and its head. */
  versions(name: string): Promise<VersionList>
  /** The deltas of versions 1 to `id` of `name`, oldest first (fewer when it has fewer). */
  versionDeltas(name: string, id: number): Promise<Uint8Array[]>
  /**
   * Every record of every document (updates, versions, metadata) at one point in time, taken
   * once the writes made before the call are stored: each document as the server held it then,
   * nothing half-written. Writes go on meanwhile. For backups (`persistence/backup.ts`).
   */
  records(): AsyncIterable<StoredRecord>
  /** Metadata of every stored document, ordered by name. */
  list(): Promise<DocMeta[]>
  /** Metadata of one document; null when none is stored under `name`. */
  info(name: string): Promise<DocMeta | null>
  /** Waits for queued writes, then releases the store. Idempotent. */
  close(): Promise<void>
}

export type StoreErrorCode =
  | 'TANDEM_ERR_STORE_LOCKED'
  | 'TANDEM_ERR_STORE_OPEN'
  | 'TANDEM_ERR_STORE_WRITE'
  | 'TANDEM_ERR_STORE_READ'
  | 'TANDEM_ERR_STORE_CLOSED'

/** A failure of the store; the document it concerns is unchanged on disk. */
export class StoreError extends Error {
  readonly code: StoreErrorCode

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
    this.code = code
  }
}
