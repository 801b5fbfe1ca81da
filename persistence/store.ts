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
  /** Removes the document and its metadata. */
  delete(name: string): Promise<void>
  /** Metadata of every stored document, ordered by name. */
  list(): Promise<DocMeta[]>
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
