import { openLevelStore } from '../../persistence/level.js'
import type { DocStore } from '../../persistence/store.js'
import { StoreError } from '../../persistence/store.js'
import type { ServerOptions } from '../../server/index.js'
import { type ServerFixture, useServer } from './fixture.js'

/** A real store with a seam: counts calls, and can fail writes or hold appends and compactions on demand. */
export interface InstrumentedStore extends DocStore {
  readonly calls: { load: number; append: number; compact: number }
  /** While true, every append and compaction rejects like a full disk, and writes nothing. */
  failWrites: boolean
  /** When set, compactions wait for this promise before reaching the real store. */
  holdCompactions: Promise<void> | null
  /** When set, appends wait for this promise before reaching the real store. */
  holdAppends: Promise<void> | null
}

export function instrument(inner: DocStore): InstrumentedStore {
  const diskFull = () => new StoreError('TANDEM_ERR_STORE_WRITE', 'write failed: No space left on device')
  const store: InstrumentedStore = {
    calls: { load: 0, append: 0, compact: 0 },
    failWrites: false,
    holdCompactions: null,
    holdAppends: null,
    load(name) {
      store.calls.load++
      return inner.load(name)
    },
    async append(name, update) {
      store.calls.append++
      if (store.holdAppends) await store.holdAppends
      if (store.failWrites) throw diskFull()
      return inner.append(name, update)
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

/** A {@link useServer} fixture whose servers each have an instrumented LevelDB store on their data directory. */
export interface InstrumentedFixture extends ServerFixture {
  /** The running test's store (a new one on the same directory after `restart`). */
  readonly store: InstrumentedStore
}

/** Like {@link useServer}, with a real store of each test's own that the test can count and fail. */
export function useInstrumentedServer(options: ServerOptions = {}): InstrumentedFixture {
  let store: InstrumentedStore | null = null
  const fixture = useServer(async (dir) => {
    store = instrument(await openLevelStore({ dir }))
    return { ...options, store }
  })
  return {
    get running() {
      return fixture.running
    },
    get store() {
      if (!store) throw new Error('no store outside a test')
      return store
    },
    client: fixture.client,
    restart: fixture.restart,
  }
}
