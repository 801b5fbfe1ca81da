import { openLevelStore } from '../../persistence/level.js'
import type { DocStore } from '../../persistence/store.js'
import { StoreError } from '../../persistence/store.js'
import type { ServerOptions } from '../../server/index.js'
import { type RunningServer, startServer, tempDataDir } from './server.js'

/** A real store with a seam: counts calls, and can fail writes or hold compactions on demand. */
export interface InstrumentedStore extends DocStore {
  readonly calls: { load: number; append: number; compact: number }
  /** While true, every append and compaction rejects like a full disk, and writes nothing. */
  failWrites: boolean
  /** When set, compactions wait for this promise before reaching the real store. */
  holdCompactions: Promise<void> | null
}

export function instrument(inner: DocStore): InstrumentedStore {
  const diskFull = () => new StoreError('TANDEM_ERR_STORE_WRITE', 'write failed: No space left on device')
  const store: InstrumentedStore = {
    calls: { load: 0, append: 0, compact: 0 },
    failWrites: false,
    holdCompactions: null,
    load(name) {
      store.calls.load++
      return inner.load(name)
    },
    append(name, update) {
      store.calls.append++
      return store.failWrites ? Promise.reject(diskFull()) : inner.append(name, update)
    },
    async compact(name, state) {
      store.calls.compact++
      if (store.holdCompactions) await store.holdCompactions
      if (store.failWrites) throw diskFull()
      return inner.compact(name, state)
    },
    delete: (name) => inner.delete(name),
    list: () => inner.list(),
    info: (name) => inner.info(name),
    addVersion: (name, version, delta, head) => inner.addVersion(name, version, delta, head),
    versions: (name) => inner.versions(name),
    versionDeltas: (name, id) => inner.versionDeltas(name, id),
    records: () => inner.records(),
    close: () => inner.close(),
  }
  return store
}

/** A real server on an instrumented LevelDB store in a fresh temporary directory. */
export async function startInstrumented(
  options: ServerOptions = {},
): Promise<{ readonly running: RunningServer; readonly store: InstrumentedStore }> {
  const dir = await tempDataDir()
  const store = instrument(await openLevelStore({ dir }))
  return { running: await startServer({ ...options, store }, dir), store }
}
