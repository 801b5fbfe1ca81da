/**
 * Version history's cost, on the real store and the server's own History: a document edited at
 * random places (a quarter of the edits deletions), a version recorded every edits/versions
 * edits; then bytes on disk with and without the versions, and the time to open the document,
 * to list its versions and to build its first and its latest version after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { openLevelStore } from '../persistence/level.js'
import { History } from '../server/history.js'
import { versionState } from '../server/versions.js'
import { directorySize, type ScenarioResult } from './scenarios.js'
import { round } from './stats.js'

const KB = 1024

/** Milliseconds `work` takes (the median of `runs`) and its last result. */
async function timed<T>(runs: number, work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const times: number[] = []
  let result: T | undefined
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    result = await work()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { ms: round(times[Math.floor(times.length / 2)] as number, 1), result: result as T }
}

/** Writes the document edited as described into a store in `dir`; with `versions` 0, none. */
async function write(dir: string, edits: number, versions: number) {
  const store = await openLevelStore({ dir })
  const doc = new Y.Doc()
  const history = new History('doc', () => doc, {
    store,
    versionQuietMs: 0,
    versionIntervalMs: 86_400_000,
    authorOf: () => ({ id: 'bench' }),
  })
  const writes: Promise<void>[] = []
  doc.on('update', (update: Uint8Array) => writes.push(store.append('doc', update)))
  const text = doc.getText('t')
  let seed = 42
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
  let fullStates = 0
  const every = versions > 0 ? Math.ceil(edits / versions) : Number.POSITIVE_INFINITY
  for (let i = 1; i <= edits; i++) {
    if (text.length > 0 && next() < 0.25) text.delete(Math.floor(next() * text.length), 1)
    else
      text.insert(Math.floor(next() * (text.length + 1)), String.fromCharCode(97 + Math.floor(next() * 26)))
    if (i % every === 0) {
      history.changed(null)
      await history.record()
      // What keeping each version as a full state (gc on, no highlights) would store.
      fullStates += Y.encodeStateAsUpdate(doc).byteLength
    }
    if (i % 500 === 0) {
      await Promise.all(writes.splice(0))
      await store.compact('doc', Y.encodeStateAsUpdate(doc))
    }
  }
  await Promise.all(writes)
  await store.compact('doc', Y.encodeStateAsUpdate(doc))
  const { versions: list } = await store.versions('doc')
  const deltas = await store.versionDeltas('doc', list.length)
  const versionBytes = deltas.reduce((sum, delta) => sum + delta.byteLength, 0)
  history.destroy()
  await store.close()
  return { encoded: Y.encodeStateAsUpdate(doc).byteLength, versionBytes, fullStates, count: list.length }
}

export async function history(edits: number, versions: number): Promise<ScenarioResult> {
  const withHistory = mkdtempSync(join(tmpdir(), 'tandem-history-'))
  const without = mkdtempSync(join(tmpdir(), 'tandem-nohistory-'))
  try {
    const written = await write(withHistory, edits, versions)
    await write(without, edits, 0)
    const disk = directorySize(withHistory)
    const diskWithout = directorySize(without)
    // After a restart: a new store on the directory, each figure the median of five.
    const store = await openLevelStore({ dir: withHistory })
    try {
      const open = await timed(5, async () => {
        const doc = new Y.Doc()
        const { updates } = await store.load('doc')
        doc.transact(() => {
          for (const update of updates) Y.applyUpdate(doc, update)
        })
        return doc.getText('t').length
      })
      const listed = await timed(5, () => store.versions('doc'))
      const build = (id: number) =>
        timed(5, async () => {
          const doc = new Y.Doc()
          Y.applyUpdate(doc, versionState(await store.versionDeltas('doc', id)))
          return doc.getText('t').length
        })
      const first = await build(1)
      const latest = await build(written.count)
      return {
        name: `history ${edits} edits, ${written.count} versions`,
        rows: [
          {
            'versions KB': round(written.versionBytes / KB),
            'document KB (encoded)': round(written.encoded / KB),
            'full states KB': round(written.fullStates / KB),
            'on disk KB': round(disk / KB),
            'on disk without versions KB': round(diskWithout / KB),
            'open doc ms': open.ms,
            'list versions ms': listed.ms,
            'build version 1 ms': first.ms,
            [`build version ${written.count} ms`]: latest.ms,
          },
        ],
        checks: [
          {
            what: 'versions ÷ encoded document',
            value: round(written.versionBytes / written.encoded, 2),
            target: '≤ 2',
            ok: written.versionBytes <= 2 * written.encoded,
          },
        ],
      }
    } finally {
      await store.close()
    }
  } finally {
    rmSync(withHistory, { recursive: true, force: true })
    rmSync(without, { recursive: true, force: true })
  }
}
