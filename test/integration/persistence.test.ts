import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { segmentsIn } from '../../persistence/journal.js'
import { openLevelStore } from '../../persistence/level.js'
import { encodeUpdate } from '../../protocol/wire.js'
import { decodeMessage } from '../../server/protocol.js'
import { type Client, waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { type RawSocket, rawSocket, textUpdate } from '../helpers/raw.js'
import { useTempDirs } from '../helpers/server.js'
import { useInstrumentedServer } from '../helpers/stores.js'
import { until, waitFor } from '../helpers/wait.js'

const tempDir = useTempDirs()
const text = (c: Client) => c.doc.getText('t').toString()
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const LEVEL_SOURCE = join(REPO, 'persistence', 'level.ts')

/** A document typed into `count` times (each edit appends `char`), and its updates in order. */
function typed(count: number, char = 'x') {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  for (let i = 0; i < count; i++) doc.getText('t').insert(i, char)
  return { doc, updates }
}

/** A store with the given commit window that records the size of every journal write. */
async function batchingStore(commitIntervalMs: number) {
  const batches: number[] = []
  const store = await openLevelStore({
    dir: await tempDir(),
    commitIntervalMs,
    onBatch: ({ stage, records }) => {
      if (stage === 'journal') batches.push(records)
    },
  })
  return { store, batches }
}

/** The document updates relayed to a raw socket so far (sync update messages). */
function relayed(socket: RawSocket): Uint8Array[] {
  return socket.received.flatMap((frame) => {
    const message = decodeMessage(frame)
    return message.kind === 'sync-update' ? [message.update] : []
  })
}

/** Resolves once `check()` holds, re-checked at each message `socket` receives. */
function heard(socket: RawSocket, check: () => boolean, what: string): Promise<void> {
  return waitFor(socket.ws, 'message', check, 10_000, what)
}

/** What the data directory holds for `room`, read with a fresh store after the server closed. */
async function stored(dataDir: string, room: string) {
  const store = await openLevelStore({ dir: dataDir })
  try {
    const { updates, meta } = await store.load(room)
    const doc = new Y.Doc()
    for (const update of updates) Y.applyUpdate(doc, update)
    return { text: doc.getText('t').toString(), records: updates.length, meta }
  } finally {
    await store.close()
  }
}

describe('persistence', () => {
  const fixture = useServer()

  it('keeps content across a graceful restart', async () => {
    const a = fixture.client('p')
    await a.synced()
    a.doc.getText('t').insert(0, 'persisted')
    a.provider.awareness.setLocalStateField('x', 1)
    const b = fixture.client('p')
    await waitForDoc(b.doc, () => text(b) === 'persisted')
    await fixture.restart()
    const c = fixture.client('p')
    await c.synced()
    expect(text(c)).toBe('persisted')
  })

  it('merges an offline client on reconnect, and persists the merge', async () => {
    const { running } = fixture
    const a = fixture.client('off')
    const b = fixture.client('off')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'base ')
    await waitForDoc(b.doc, () => text(b) === 'base ')
    b.provider.disconnect()
    b.doc.getText('t').insert(5, 'offline-b ')
    a.doc.getText('t').insert(5, 'online-a ')
    b.provider.connect()
    const merged = (c: Client) => text(c).includes('offline-b') && text(c).includes('online-a')
    await Promise.all([waitForDoc(a.doc, () => merged(a)), waitForDoc(b.doc, () => merged(b))])
    expect(text(a)).toBe(text(b))
    const expected = text(a)
    await running.stop()
    expect((await stored(running.dataDir, 'off')).text).toBe(expected)
  })
})

describe('persistence: compaction', () => {
  const fixture = useInstrumentedServer({ compactAfterRecords: 10 })

  it('compacts past the threshold and keeps the content identical', async () => {
    const { running } = fixture
    const a = fixture.client('compact')
    const b = fixture.client('compact')
    await Promise.all([a.synced(), b.synced()])
    for (let i = 0; i < 95; i++) a.doc.getText('t').insert(i, String(i % 10))
    await waitForDoc(b.doc, () => text(b).length === 95)
    const expected = text(a)
    await running.stop()
    const after = await stored(running.dataDir, 'compact')
    expect(after.text).toBe(expected)
    expect(after.records).toBe(1)
    expect(after.meta).toMatchObject({ name: 'compact', records: 1 })
    expect(after.meta?.updates).toBeGreaterThan(95)
  })

  it('compacts a large document only once its records add up to a quarter of it', async () => {
    const { dataDir } = fixture.running
    const a = fixture.client('large')
    const b = fixture.client('large')
    await Promise.all([a.synced(), b.synced()])
    const t = a.doc.getText('t')
    // Each step ends with an edit b must receive: the compaction it may start is decided by then.
    const typeAndWait = async (edits: number, chunk: string) => {
      for (let i = 0; i < edits; i++) t.insert(t.length, chunk)
      const expected = text(a)
      await waitForDoc(b.doc, () => text(b) === expected)
    }
    await typeAndWait(1, 'x'.repeat(40_000))
    await typeAndWait(9, 'y')
    expect(fixture.store.calls.compact).toBe(1) // 10 records: compacted into one of about 40 kB
    await typeAndWait(30, 'z')
    expect(fixture.store.calls.compact).toBe(1) // 31 records, but far less than 10 kB of them
    await typeAndWait(1, 'w'.repeat(10_000))
    expect(fixture.store.calls.compact).toBe(2)
    // Past 4 times compactAfterRecords, small records are compacted all the same.
    await typeAndWait(30, 'z')
    expect(fixture.store.calls.compact).toBe(2)
    await typeAndWait(10, 'z')
    expect(fixture.store.calls.compact).toBe(3)
    // Stopped with its clients still there; they stay away from the next servers, whose only
    // edits are the ones counted below.
    const stop = async (...clients: Client[]) => {
      await fixture.running.stop()
      for (const c of clients) c.provider.disconnect()
    }
    await stop(a, b)

    // Loaded again (by a new server with a new store on the same directory), what is stored
    // counts: its oldest record as the compacted size, the others as appended. One record (the
    // room compacted as it unloaded): 30 small edits compact nothing.
    const reopen = async () => {
      await fixture.restart()
      const [c, d] = [fixture.client('large'), fixture.client('large')]
      await Promise.all([c.synced(), d.synced()])
      const edit = async (edits: number) => {
        for (let i = 0; i < edits; i++) c.doc.getText('t').insert(0, 'v')
        const expected = text(c)
        await waitForDoc(d.doc, () => text(d) === expected)
        return expected
      }
      return { edit, stop: () => stop(c, d) }
    }
    let next = await reopen()
    await next.edit(30)
    expect(fixture.store.calls.compact).toBe(0)
    await next.stop()
    // Fifteen records of 1.1 kB appended behind the ~50 kB one (as a crash would leave them): the
    // next edit compacts.
    const writer = new Y.Doc()
    const appended: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => appended.push(u))
    for (let i = 0; i < 15; i++) writer.getText('t').insert(0, 'u'.repeat(1_100))
    const direct = await openLevelStore({ dir: dataDir })
    await Promise.all(appended.map((u) => direct.append('large', u)))
    await direct.close()
    next = await reopen()
    const expected = await next.edit(1)
    expect(fixture.store.calls.compact).toBe(1)
    await next.stop()
    expect((await stored(dataDir, 'large')).text).toBe(expected)
  })
})

describe('persistence: loading and unloading', () => {
  const fixture = useInstrumentedServer({ persistRetryMs: 50 })

  it('loads a room once for concurrent first connections', async () => {
    const { store } = fixture
    const many = Array.from({ length: 8 }, () => fixture.client('once'))
    await Promise.all(many.map((c) => c.synced()))
    expect(store.calls.load).toBe(1)
  })

  it('gives a client that reconnects during unload the latest state', async () => {
    const { running, store } = fixture
    let release!: () => void
    store.holdCompactions = new Promise((r) => {
      release = r
    })
    const a = fixture.client('race')
    await a.synced()
    for (let i = 0; i < 5; i++) a.doc.getText('t').insert(0, `${i}`)
    const b0 = fixture.client('race')
    await waitForDoc(b0.doc, () => text(b0) === '43210')
    b0.destroy()
    a.provider.disconnect()
    // The room is now unloading (it records a version, then compacts), held in its compaction.
    // Reconnect meanwhile:
    await until(() => store.calls.compact > 0, 10_000, 'the unload to compact')
    const b = fixture.client('race')
    await b.synced()
    expect(text(b)).toBe('43210')
    release()
    store.holdCompactions = null
    b.doc.getText('t').insert(0, 'x')
    const c = fixture.client('race')
    await waitForDoc(c.doc, () => text(c) === 'x43210')
    expect(store.calls.load).toBe(1)
    await running.stop()
    expect((await stored(running.dataDir, 'race')).text).toBe('x43210')
  })

  it('keeps a document in memory while its store fails, and writes it once the store recovers', async () => {
    const { running, store } = fixture
    const errors: string[] = []
    running.server.on('persistError', ({ room }) => errors.push(room))
    const unloaded: string[] = []
    running.server.on('roomUnloaded', ({ room }) => unloaded.push(room))
    const a = fixture.client('full')
    const b = fixture.client('full')
    await Promise.all([a.synced(), b.synced()])
    store.failWrites = true
    a.doc.getText('t').insert(0, 'unsaved')
    // Collaboration goes on while the disk is full.
    await waitForDoc(b.doc, () => text(b) === 'unsaved')
    expect(errors).toContain('full')
    a.destroy()
    b.destroy()
    await waitFor(running.server, 'persistError', () => errors.length >= 2)
    expect(unloaded).toEqual([])
    const metrics = await (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text()
    expect(metrics).toMatch(/tandem_rooms_loaded 1/)
    // A client still gets the unsaved content from memory.
    const c = fixture.client('full')
    await c.synced()
    expect(text(c)).toBe('unsaved')
    c.destroy()
    store.failWrites = false
    await waitFor(running.server, 'roomUnloaded', () => unloaded.includes('full'))
    await running.stop()
    expect((await stored(running.dataDir, 'full')).text).toBe('unsaved')
  })
})

describe('persistence: group commit', () => {
  it('group-commits: writes within the commit window share one journal write', async () => {
    const { store, batches } = await batchingStore(1000)
    try {
      const { updates } = typed(4)
      // After a quiet spell a write starts at once, alone.
      await store.append('g', updates[0]!)
      // The next ones arrive in separate turns of the event loop, within the window: one write.
      const writes: Promise<void>[] = []
      for (const update of updates.slice(1)) {
        writes.push(store.append('g', update))
        await new Promise((resolve) => setImmediate(resolve))
      }
      await Promise.all(writes)
      // The first write also stores the document's metadata record; the next ones, within a
      // second of it, leave the record to be rewritten later (listing the documents does it now).
      expect(batches).toEqual([2, 3])
      expect(await store.list()).toMatchObject([{ name: 'g', records: 4, updates: 4 }])
      expect(batches).toEqual([2, 3, 1])
      const loaded = new Y.Doc()
      for (const update of (await store.load('g')).updates) Y.applyUpdate(loaded, update)
      expect(loaded.getText('t').toString()).toBe('xxxx')
    } finally {
      await store.close()
    }
  })

  it('without a window, writes one group per turn of the event loop, for everything in it', async () => {
    const { store, batches } = await batchingStore(0)
    try {
      const { updates } = typed(6)
      // The first (with the metadata record) alone, three in one turn, then one per turn.
      await store.append('turns', updates[0]!)
      const writes = updates.slice(1, 4).map((update) => store.append('turns', update))
      for (const update of updates.slice(4)) {
        await new Promise((resolve) => setImmediate(resolve))
        writes.push(store.append('turns', update))
      }
      await Promise.all(writes)
      expect(batches).toEqual([2, 3, 1, 1])
    } finally {
      await store.close()
    }
  })

  it('writes a full group at once, without waiting for the rest of the commit window', async () => {
    const { store, batches } = await batchingStore(60_000)
    try {
      const { updates } = typed(71)
      await store.append('flood', updates[0]!)
      // Within a minute-long window: only a full batch can be written now.
      await Promise.all(updates.slice(1).map((update) => store.append('flood', update)))
      expect(batches).toEqual([2, 70])
    } finally {
      await store.close()
    }
  })
})

describe('persistence: group commit through the server', () => {
  const fixture = useServer({ commitIntervalMs: 1000 })

  it('relays the updates one batch releases as one merged update, to their authors too unless all are one', async () => {
    const { running } = fixture
    const join = async () => {
      const socket = rawSocket(`${running.url}/merge`)
      await heard(socket, () => socket.received.length > 0, 'the sync step 1 that says the room was joined')
      return socket
    }
    const [observer, a, b, c] = [await join(), await join(), await join(), await join()]
    const [docA, docB, docC] = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    // After a quiet spell a write starts at once: a's edit goes alone.
    a.ws.send(encodeUpdate(textUpdate('a', docA)))
    await heard(observer, () => relayed(observer).length === 1, "a's edit at the observer")
    // b's and c's arrive within the commit window: one batch, one merged update for everyone.
    b.ws.send(encodeUpdate(textUpdate('b', docB)))
    c.ws.send(encodeUpdate(textUpdate('c', docC)))
    await heard(observer, () => relayed(observer).length === 2, 'the merged update at the observer')
    const authors = (update: Uint8Array) => [...Y.parseUpdateMeta(update).from.keys()].sort()
    const ids = (...docs: Y.Doc[]) => docs.map((d) => d.clientID).sort()
    expect(authors(relayed(observer)[1]!)).toEqual(ids(docB, docC))
    // b and c had a's edit; each gets the merged update, its own edit in it.
    await Promise.all(
      [b, c].map((socket) =>
        heard(socket, () => relayed(socket).length === 2, 'the merged update at b and c'),
      ),
    )
    for (const author of [a, b, c]) expect(authors(relayed(author).at(-1)!)).toEqual(ids(docB, docC))
    expect(relayed(a)).toHaveLength(1)
    // Two edits of c's in one batch: merged, and not sent back to c.
    for (const text of ['d', 'e']) c.ws.send(encodeUpdate(textUpdate(text, docC)))
    await heard(observer, () => relayed(observer).length === 3, "c's two edits at the observer")
    expect(authors(relayed(observer)[2]!)).toEqual(ids(docC))
    const seen = new Y.Doc()
    for (const update of relayed(observer)) Y.applyUpdate(seen, update)
    expect(seen.getText('t').length).toBe(5)
    await heard(a, () => relayed(a).length === 2, "c's two edits at a")
    expect(relayed(c)).toHaveLength(2)
    // Twenty edits in one batch: merges of at most sixteen.
    for (let i = 0; i < 20; i++) b.ws.send(encodeUpdate(textUpdate('f', docB)))
    await heard(observer, () => relayed(observer).length === 5, "b's twenty edits at the observer")
    Y.applyUpdate(seen, relayed(observer)[3]!)
    expect(seen.getText('t').length).toBe(5 + 16)
    Y.applyUpdate(seen, relayed(observer)[4]!)
    expect(seen.getText('t').length).toBe(5 + 20)
  })
})

describe('persistence: the store on disk', () => {
  it('gives back the space of what compaction replaced: on disk, at most twice the encoded document', async () => {
    const dir = await tempDir()
    const store = await openLevelStore({ dir })
    const { doc, updates } = typed(5000)
    // Appended in bursts and compacted every 500 records, as a room does.
    for (let i = 0; i < updates.length; i += 100) {
      await Promise.all(updates.slice(i, i + 100).map((update) => store.append('big', update)))
      if (i % 500 === 400) await store.compact('big', Y.encodeStateAsUpdate(doc))
    }
    await store.close()
    const encoded = Y.encodeStateAsUpdate(doc).byteLength
    let onDisk = 0
    for (const file of await readdir(dir)) onDisk += (await stat(join(dir, file))).size
    expect(onDisk).toBeLessThanOrEqual(2 * encoded)
    expect((await stored(dir, 'big')).text).toBe('x'.repeat(5000))
  })

  it('writes on close what was asked before it, even for a document still being read, and refuses what comes after', async () => {
    const dir = await tempDir()
    const store = await openLevelStore({ dir })
    const { updates } = typed(2)
    // Not cached yet: the store reads the document before it can queue the write.
    const before = store.append('late', updates[0]!)
    const closed = store.close()
    await expect(before).resolves.toBeUndefined()
    await closed
    await expect(store.append('late', updates[1]!)).rejects.toMatchObject({ code: 'TANDEM_ERR_STORE_CLOSED' })
    expect(segmentsIn(dir)).toEqual([])
    expect((await stored(dir, 'late')).records).toBe(1)
  })

  it('refuses a journal write cut short (a file-size limit, like a full disk), keeps what was acknowledged, and replays it after SIGKILL', async () => {
    const dir = await tempDir()
    // A 2 MiB update is cut short at the 1 MiB limit and refused; the next one goes to a new
    // segment; the process is killed the moment that one is acknowledged, before LevelDB has it.
    const results = await inLimitedProcess(
      dir,
      `for (const [fill, size] of [['a', 10], ['b', 2 * 1024 * 1024], ['c', 10]]) await append(fill, size)
      report(() => process.kill(process.pid, 'SIGKILL'))`,
    )
    expect(results).toEqual([
      'ok',
      expect.stringMatching(/^TANDEM_ERR_STORE_WRITE: journal write to tandem-journal-\d+ failed: .*EFBIG/),
      'ok',
    ])
    // What the killed process acknowledged last is only in its journal (after the torn group).
    expect(segmentsIn(dir).length).toBeGreaterThan(0)
    expect(await storedFills(dir)).toEqual(['a', 'c'])
    // Replayed into LevelDB and deleted.
    expect(segmentsIn(dir)).toEqual([])
  })

  it('keeps what the journal acknowledged when LevelDB fails behind it, refuses writes meanwhile, and replays them at the next start', async () => {
    const dir = await tempDir()
    // Each 200 KiB update goes to LevelDB in its own batch and each batch to its own journal
    // segment, but LevelDB's log file grows past the 1 MiB limit after a few: from then on its
    // writes fail, and the journal refuses what comes next.
    const results = await inLimitedProcess(
      dir,
      `for (const fill of 'abcdefghijkl') {
        const written = levelBatch()
        if ((await append(fill, 200 * 1024)) === 'ok') await written
      }
      await store.close()
      report(() => process.exit(0))`,
    )
    const acknowledged = results.flatMap((result, i) => (result === 'ok' ? ['abcdefghijkl'[i]] : []))
    expect(acknowledged.length).toBeGreaterThanOrEqual(3)
    expect(results.slice(acknowledged.length)).toEqual(
      Array(results.length - acknowledged.length).fill(
        expect.stringMatching(
          /^TANDEM_ERR_STORE_WRITE: not written until the store recovers \(LevelDB write .*failed/,
        ),
      ),
    )
    expect(acknowledged.length).toBeLessThan(results.length)
    // LevelDB never took the last acknowledged ones: the journal kept them.
    expect(segmentsIn(dir).length).toBeGreaterThan(0)
    expect(await storedFills(dir)).toEqual(acknowledged)
    expect(segmentsIn(dir)).toEqual([])
  })
})

/**
 * Runs `body` against a real store on `dir` in a child process whose files may not grow past
 * 1 MiB (`ulimit -f`): `append(fill, size)` appends to document `doc` an update of `size` bytes
 * of `fill`, noting and returning 'ok' or the error; `levelBatch()` resolves when the store next
 * reports a LevelDB batch (written or failed); `report(then)` prints the notes and calls `then`.
 * The store is the source, compiled as vitest compiles it (Vite's module runner), never a build in
 * dist/ that may be older.
 */
async function inLimitedProcess(dir: string, body: string): Promise<string[]> {
  const script = `
    const { runnerImport } = await import('vite')
    const { module } = await runnerImport(${JSON.stringify(LEVEL_SOURCE)}, { configFile: false, logLevel: 'silent' })
    const { openLevelStore } = module
    const waiting = []
    const store = await openLevelStore({
      dir: process.argv[1],
      onBatch: ({ stage }) => stage === 'leveldb' && waiting.splice(0).forEach((resolve) => resolve()),
    })
    const levelBatch = () => new Promise((resolve) => waiting.push(resolve))
    const results = []
    const append = (fill, size) =>
      store.append('doc', Buffer.alloc(size, fill)).then(
        () => 'ok',
        (error) => error.code + ': ' + error.message,
      ).then((result) => (results.push(result), result))
    const report = (then) => process.stdout.write(JSON.stringify(results) + '\\n', then)
    ${body}
  `
  const child = spawn(
    'bash',
    ['-c', 'ulimit -f 2048 && exec "$0" --input-type=module -e "$1" "$2"', process.execPath, script, dir],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  await once(child, 'exit')
  return JSON.parse(out) as string[]
}

/** The fill byte of each update stored for document `doc`, read with a fresh store. */
async function storedFills(dir: string): Promise<string[]> {
  const store = await openLevelStore({ dir })
  try {
    const { updates, meta } = await store.load('doc')
    // The metadata record may lag the last second of writes; its record count never does.
    expect(meta?.records).toBe(updates.length)
    return updates.map((update) => String.fromCharCode(update[0]!))
  } finally {
    await store.close()
  }
}
