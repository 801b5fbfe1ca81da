/**
 * The {@link Target} on a LevelDB data directory that no server is running on: the store is
 * opened (its journal replayed, as a server start would), used and closed by one command.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Node } from 'prosemirror-model'
import * as Y from 'yjs'
import { writeDoc } from '../../content/convert.js'
import { openLevelStore } from '../../persistence/level.js'
import {
  type DocMeta,
  type DocStore,
  type StoredRecord,
  StoreError,
  type VersionRecord,
} from '../../persistence/store.js'
import { CommandError } from './errors.js'
import type { Compaction, DocCopy, DocSummary, Target } from './target.js'

export interface LevelTargetOptions {
  /** Make the store when the directory holds none (import, restore, a new backup). */
  readonly create: boolean
  /** `data-dir`: the --data-dir of a server; `backup`: a backup's directory. Words the messages. */
  readonly role: 'data-dir' | 'backup'
  /** Sync every write to disk (a backup being written). */
  readonly fsync?: boolean
}

/**
 * Opens the store in `dir`. Rejects with a {@link CommandError}: `TANDEM_ERR_DATA_DIR_LOCKED` when
 * a running server holds it, `TANDEM_ERR_NO_DATA_DIR` when it holds no store and `create` is off
 * (rather than making an empty one at a mistyped path), `TANDEM_ERR_STORE` when it cannot be opened.
 */
export async function openLevelTarget(
  dir: string,
  label: string,
  options: LevelTargetOptions,
): Promise<Target> {
  // LevelDB's CURRENT file names its manifest: every store has one from its first open on.
  if (!options.create && !existsSync(join(dir, 'CURRENT'))) {
    throw new CommandError(
      'TANDEM_ERR_NO_DATA_DIR',
      options.role === 'data-dir'
        ? `${label}: no Tandem data there (for a running server, use --url http://host:port)`
        : `${label}: not a Tandem backup or data directory`,
    )
  }
  let store: DocStore
  try {
    store = await openLevelStore({ dir, fsync: options.fsync === true })
  } catch (error) {
    if (error instanceof StoreError && error.code === 'TANDEM_ERR_STORE_LOCKED') {
      throw new CommandError(
        'TANDEM_ERR_DATA_DIR_LOCKED',
        options.role === 'data-dir'
          ? `${label} is in use by a running server: use --url http://host:port (and --token for a server with auth)`
          : `${label}: ${dir} is in use by a running server; stop it first`,
        { cause: error },
      )
    }
    throw storeFailure(label, error)
  }
  return new LevelTarget(store, label)
}

class LevelTarget implements Target {
  constructor(
    private readonly store: DocStore,
    readonly label: string,
  ) {}

  async list(onProgress?: (listed: number) => void): Promise<DocSummary[]> {
    const metas = await this.call(() => this.store.list())
    onProgress?.(metas.length)
    return metas.map(summary)
  }

  async state(name: string): Promise<Uint8Array | null> {
    const doc = await this.load(name)
    if (!doc) return null
    try {
      return Y.encodeStateAsUpdate(doc.ydoc)
    } finally {
      doc.ydoc.destroy()
    }
  }

  async write(name: string, content: Node): Promise<{ readonly created: boolean }> {
    const loaded = await this.load(name)
    const ydoc = loaded?.ydoc ?? new Y.Doc()
    try {
      const before = Y.encodeStateVector(ydoc)
      let changed = false
      ydoc.once('update', () => {
        changed = true
      })
      writeDoc(ydoc, content)
      // What an editor making this change would have sent: the structs it added (its own client
      // ID) and the deletions, one update appended after the others.
      if (changed) await this.call(() => this.store.append(name, Y.encodeStateAsUpdate(ydoc, before)))
      return { created: loaded === null }
    } finally {
      ydoc.destroy()
    }
  }

  async versions(name: string): Promise<readonly VersionRecord[] | null> {
    if ((await this.call(() => this.store.info(name))) === null) return null
    return (await this.call(() => this.store.versions(name))).versions
  }

  records(): AsyncIterable<StoredRecord> {
    return this.store.records()
  }

  readonly copy = async (name: string): Promise<DocCopy | null> => {
    const state = await this.state(name)
    if (state === null) return null
    const { versions, head } = await this.call(() => this.store.versions(name))
    const deltas = await this.call(() => this.store.versionDeltas(name, versions.length))
    return { state, versions, deltas, head }
  }

  readonly replace = (name: string, copy: DocCopy): Promise<void> =>
    this.call(async () => {
      // Made in one turn, so the store writes them together, in this order: every record of the
      // document (versions too) dropped, the copy's state, then its versions renumbered from 1.
      const head = copy.head ?? new Uint8Array(0)
      await Promise.all([
        this.store.delete(name),
        this.store.compact(name, copy.state),
        ...copy.versions.map(({ at, name: label, authors }, i) =>
          this.store.addVersion(
            name,
            { at, name: label, authors },
            copy.deltas[i] ?? new Uint8Array(0),
            head,
          ),
        ),
      ])
    })

  async delete(name: string): Promise<boolean> {
    if ((await this.call(() => this.store.info(name))) === null) return false
    await this.call(() => this.store.delete(name))
    return true
  }

  readonly compact = async (name: string): Promise<Compaction | null> => {
    const meta = await this.call(() => this.store.info(name))
    if (meta === null) return null
    if (meta.records <= 1) {
      const same = summary(meta)
      return { before: same, after: same }
    }
    const doc = await this.load(name)
    if (!doc) return null
    try {
      // The state of a doc that applied every record: it contains them all (DocStore.compact).
      await this.call(() => this.store.compact(name, Y.encodeStateAsUpdate(doc.ydoc)))
    } finally {
      doc.ydoc.destroy()
    }
    const after = await this.call(() => this.store.info(name))
    return { before: summary(meta), after: summary(after ?? meta) }
  }

  close(): Promise<void> {
    return this.call(() => this.store.close())
  }

  /** The document's records applied to a new Y.Doc (the caller destroys it); null when none. */
  private async load(name: string): Promise<{ readonly ydoc: Y.Doc } | null> {
    const { updates, meta } = await this.call(() => this.store.load(name))
    if (meta === null) return null
    const ydoc = new Y.Doc()
    try {
      ydoc.transact(() => {
        for (const update of updates) Y.applyUpdate(ydoc, update)
      })
    } catch (cause) {
      ydoc.destroy()
      throw new CommandError(
        'TANDEM_ERR_STORE',
        `${this.label}: ${JSON.stringify(name)} holds a record that is not a Yjs update`,
        { cause },
      )
    }
    return { ydoc }
  }

  /** Runs a store call; its StoreError becomes a CommandError that names the directory. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw storeFailure(this.label, error)
    }
  }
}

function storeFailure(label: string, error: unknown): unknown {
  if (!(error instanceof StoreError)) return error
  return new CommandError('TANDEM_ERR_STORE', `${label}: ${error.message}`, { cause: error })
}

function summary(meta: DocMeta): DocSummary {
  return {
    name: meta.name,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    bytes: meta.bytes,
    records: meta.records,
  }
}
