/**
 * A large document's compaction when its room unloads is merged in the builder's worker, off the
 * event loop (server/room.ts): the stored record must hold exactly the document, and a change
 * that comes while the merge runs must not be compacted away.
 */
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openLevelStore } from '../../persistence/level.js'
import type { DocStore } from '../../persistence/store.js'
import { DocBuilder } from '../../server/builder.js'
import { Stats } from '../../server/metrics.js'
import { Room } from '../../server/room.js'
import { useTempDirs } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const tempDir = useTempDirs()
const stores: DocStore[] = []
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()))
})

/** A builder whose merges wait until the test lets them go. */
class HeldBuilder extends DocBuilder {
  asked = 0
  private held: Array<() => void> = []

  override async merge(updates: readonly Uint8Array[]): Promise<Uint8Array> {
    this.asked++
    await new Promise<void>((resolve) => this.held.push(resolve))
    return super.merge(updates)
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve()
  }
}

/** A text edited at random places until it is well over the size of a large document. */
function largeState(): Uint8Array {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  let seed = 5
  for (let i = 0; i < 4000; i++) {
    seed = (seed * 16807) % 2147483647
    text.insert(seed % (text.length + 1), `word ${i} `)
  }
  const state = Y.encodeStateAsUpdate(doc)
  expect(state.byteLength).toBeGreaterThan(64 * 1024)
  return state
}

async function openRoom(builder: DocBuilder) {
  const store = await openLevelStore({ dir: await tempDir() })
  stores.push(store)
  const state = largeState()
  await store.append('doc', state)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  const room = new Room('doc', [state], doc, {
    store,
    relay: null,
    stats: new Stats(),
    log: pino({ level: 'silent' }),
    compactAfterRecords: 500,
    persistRetryMs: 1000,
    awarenessFlushMs: 50,
    keepaliveMs: 15_000,
    maxAwarenessBytes: 1 << 20,
    maxPendingUpdateBytes: 1 << 24,
    versionQuietMs: 0,
    versionIntervalMs: 0,
    builder,
    events: { onChange: () => undefined, onPersistError: () => undefined },
  })
  /** What the store holds for the document, as a document's state. */
  const stored = async () => {
    const { updates } = await store.load('doc')
    const copy = new Y.Doc()
    for (const update of updates) Y.applyUpdate(copy, update)
    return { records: updates.length, state: Buffer.from(Y.encodeStateAsUpdate(copy)) }
  }
  return { room, stored, expected: () => Buffer.from(Y.encodeStateAsUpdate(room.doc)) }
}

describe('a large document’s compaction', () => {
  it('writes the merge of its stored state and the changes since as its one record', async () => {
    const { room, stored, expected } = await openRoom(new DocBuilder({ worker: null }))
    room.doc.getText('t').insert(0, 'one ')
    room.doc.getText('t').delete(10, 20)
    expect((await stored()).records).toBe(3)
    await room.persist()
    expect(await stored()).toEqual({ records: 1, state: expected() })
    room.destroy()
  })

  it('is dropped when the document changes while it is merged, and made by the next one', async () => {
    const builder = new HeldBuilder({ worker: null })
    const { room, stored, expected } = await openRoom(builder)
    room.doc.getText('t').insert(0, 'before ')
    const persisting = room.persist()
    await until(() => builder.asked === 1, 5_000, 'the merge to be asked for')
    room.doc.getText('t').insert(0, 'during ')
    builder.release()
    await persisting
    // Both changes stay as their own records: the merge lacked the second.
    expect(await stored()).toEqual({ records: 3, state: expected() })
    const again = room.persist()
    await until(() => builder.asked === 2, 5_000, 'the next merge to be asked for')
    builder.release()
    await again
    expect(await stored()).toEqual({ records: 1, state: expected() })
    room.destroy()
  })

  it('keeps at most 1 MiB of changes in memory for it: past that, the unload encodes the document', async () => {
    const builder = new HeldBuilder({ worker: null })
    const { room, stored, expected } = await openRoom(builder)
    room.doc.getText('t').insert(0, 'x'.repeat(600 * 1024))
    room.doc.getText('t').insert(0, 'y'.repeat(600 * 1024))
    await room.persist()
    expect(builder.asked).toBe(0)
    expect(await stored()).toEqual({ records: 1, state: expected() })
    room.destroy()
  })
})
