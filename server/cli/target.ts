/**
 * The seam between the admin commands and where they work: a stopped server's data directory
 * (`level-target.ts`) or a running server's HTTP API (`http-target.ts`). Every command is written
 * once, against {@link Target}.
 */
import type { Node } from 'prosemirror-model'
import type { StoredRecord, VersionRecord } from '../../persistence/store.js'
import type { Connection } from './args.js'
import { httpTarget } from './http-target.js'
import { openLevelTarget } from './level-target.js'

/** A stored document as the commands list it. */
export interface DocSummary {
  readonly name: string
  /** ms since the epoch. */
  readonly createdAt: number
  /** ms since the epoch. */
  readonly updatedAt: number
  /** Bytes of its stored records. */
  readonly bytes: number
  /** Records stored; null where the target does not say (the HTTP API). */
  readonly records: number | null
}

/** A document whole: its state and its versions, as a restore copies it. */
export interface DocCopy {
  /** Its whole state as one Yjs update. */
  readonly state: Uint8Array
  /** Its versions, oldest first, with their deltas (same order) and the latest one's snapshot. */
  readonly versions: readonly VersionRecord[]
  readonly deltas: readonly Uint8Array[]
  readonly head: Uint8Array | null
}

/** What a compaction did; `before === after` when the document was one record already. */
export interface Compaction {
  readonly before: DocSummary
  readonly after: DocSummary
}

/**
 * Documents somewhere. Methods reject with a {@link CommandError} (or a UsageError) whose message
 * names the target; a rejected write changed nothing unless it says so.
 */
export interface Target {
  /** How messages name it: `--data-dir ./data` or `--url http://host:port`. */
  readonly label: string
  /** Every document, ordered by name; `onProgress` hears how many are listed so far. */
  list(onProgress?: (listed: number) => void): Promise<DocSummary[]>
  /**
   * The document's whole state as one Yjs update (V1): a state its editors could have seen.
   * Null when there is no such document.
   */
  state(name: string): Promise<Uint8Array | null>
  /**
   * Makes the document's content `doc` with one ordinary Yjs change that connected and later
   * editors merge (creating the document if need be). Resolves whether it created it.
   */
  write(name: string, doc: Node): Promise<{ readonly created: boolean }>
  /**
   * Every record of the store from one point in time (persistence/backup.ts): what a backup
   * copies, versions and metadata included.
   */
  records(): AsyncIterable<StoredRecord>
  /** The document whole (state and versions); null when there is none. Absent on a running server. */
  readonly copy?: (name: string) => Promise<DocCopy | null>
  /**
   * Replaces the document, whatever it held, by `copy`, in one write: its state and its versions.
   * Absent on a running server (a restore goes into a stopped server's data directory).
   */
  readonly replace?: (name: string, copy: DocCopy) => Promise<void>
  /** The document's versions, oldest first; null when there is no such document. */
  versions(name: string): Promise<readonly VersionRecord[] | null>
  /** Deletes the document; false when there was none. */
  delete(name: string): Promise<boolean>
  /**
   * Rewrites the document's records into one; null when there is no such document. Absent where
   * documents are compacted by the server itself (a running server).
   */
  readonly compact?: (name: string) => Promise<Compaction | null>
  /** Releases the target (the store's lock); idempotent. */
  close(): Promise<void>
}

/**
 * Opens the target `connection` names. A data directory must hold a store already unless
 * `create` (import, restore), and be free: one held by a running server is refused with a message
 * that names `--url`.
 */
export function openTarget(connection: Connection, options: { readonly create: boolean }): Promise<Target> {
  if (connection.kind === 'url') return Promise.resolve(httpTarget(connection))
  return openLevelTarget(connection.dataDir, connection.label, { ...options, role: 'data-dir' })
}
