import { rm } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createClient, RESP_TYPES } from 'redis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { writeBackup } from '../../persistence/backup.js'
import { openLevelStore } from '../../persistence/level.js'
import { openRedisStore, type RedisDocStore, type RedisStoreOptions } from '../../persistence/redis.js'
import { StoreError } from '../../persistence/store.js'
import { freePort } from '../helpers/nginx.js'
import { type RunningRedis, redisAvailable, startRedis } from '../helpers/redis.js'
import { tempDataDir } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

/** A replica of a document: a Y.Doc whose every local edit is an update to store. */
class Replica {
  readonly doc = new Y.Doc()
  readonly updates: Uint8Array[] = []

  constructor(stored: readonly Uint8Array[] = []) {
    for (const update of stored) Y.applyUpdate(this.doc, update, 'stored')
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== 'stored') this.updates.push(update)
    })
  }

  /** Types `text` at the end, one edit per character; returns the updates made. */
  type(text: string): Uint8Array[] {
    const from = this.updates.length
    const t = this.doc.getText('t')
    for (const char of text) t.insert(t.length, char)
    return this.updates.slice(from)
  }

  apply(update: Uint8Array): void {
    Y.applyUpdate(this.doc, update, 'stored')
  }

  get text(): string {
    return this.doc.getText('t').toString()
  }

  get state(): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc)
  }
}

/** The text of a document made of `updates`. */
function textOf(updates: readonly Uint8Array[]): string {
  return new Replica(updates).text
}

/** The characters of `text`, sorted: what a merge of concurrent typing must contain. */
const chars = (text: string) => [...text].sort().join('')

/**
 * A TCP proxy in front of Redis that counts the chunks each way (one per socket read), and can
 * hold what the client sends (like a network that stopped delivering, until TCP gets through).
 */
async function countingProxy(port: number) {
  const counts = { toRedis: 0, fromRedis: 0 }
  const sockets = new Set<Socket>()
  let held: Array<() => void> | null = null
  const server: Server = createServer()
  server.on('connection', (client: Socket) => {
    const upstream = connect(port, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('data', (chunk) => {
      counts.toRedis++
      if (held) held.push(() => upstream.write(chunk))
      else upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      counts.fromRedis++
      client.write(chunk)
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no port')
  return {
    url: `redis://127.0.0.1:${address.port}`,
    counts,
    reset() {
      counts.toRedis = 0
      counts.fromRedis = 0
    },
    hold() {
      held ??= []
    },
    release() {
      const queued = held ?? []
      held = null
      for (const write of queued) write()
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe.skipIf(!redisAvailable())('the Redis document store', () => {
  let redis: RunningRedis
  /** The test's own raw client, to look at the keys. */
  let raw: ReturnType<typeof rawClient>
  let namespace = ''
  let counter = 0
  const stores: RedisDocStore[] = []
  const cleanups: Array<() => Promise<unknown>> = []

  const rawClient = (url: string) =>
    createClient({ url, RESP: 2 }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })

  beforeAll(async () => {
    redis = await startRedis()
    raw = rawClient(redis.url)
    raw.on('error', () => undefined)
    await raw.connect()
  })
  afterAll(async () => {
    raw?.destroy()
    await redis?.cleanup()
  })
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close()
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  beforeEach(() => {
    namespace = `t${++counter}`
  })

  /** A store on this file's Redis (or `url`), in the test's own namespace. */
  const open = async (options: Partial<RedisStoreOptions> = {}) => {
    const store = await openRedisStore({ url: redis.url, namespace, ...options })
    stores.push(store)
    return store
  }

  /** Every key of the test's namespace, sorted. */
  const keys = async (ns = namespace) => {
    const found: string[] = []
    for await (const batch of raw.scanIterator({ MATCH: `${ns}:v1:*`, COUNT: 1000 }))
      for (const key of batch) found.push(key.toString())
    return found.sort()
  }
  /** How many times Redis ran `command` so far (INFO commandstats). */
  const calls = async (command: string) => {
    const info = (await raw.sendCommand(['INFO', 'commandstats'])) as Buffer
    const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info.toString())
    return Number(match?.[1] ?? 0)
  }

  it('appends made in one turn share one round trip, and load returns them in call order', async () => {
    const proxy = await countingProxy(redis.port)
    cleanups.push(proxy.close)
    const store = await open({ url: proxy.url })
    const docs = ['one', 'two', 'three', 'four', 'five'].map((name) => ({ name, replica: new Replica() }))
    const typed = docs.map(({ replica }) => replica.type('hello, world! '.repeat(3)))
    const evals = await calls('evalsha')
    proxy.reset()
    // 210 appends to five documents, all in this turn.
    await Promise.all(docs.flatMap(({ name }, i) => typed[i]!.map((update) => store.append(name, update))))
    expect(proxy.counts).toEqual({ toRedis: 1, fromRedis: 1 })
    expect((await calls('evalsha')) - evals).toBe(docs.length)

    // More in later turns, without waiting: each turn's batch goes after the one before.
    const later: Promise<void>[] = []
    for (let turn = 0; turn < 5; turn++) {
      for (const update of docs[0]!.replica.type(`[${turn}]`)) later.push(store.append('one', update))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(later)

    for (const { name, replica } of docs) {
      const loaded = await store.load(name)
      expect(loaded.updates.map((u) => Buffer.from(u))).toEqual(replica.updates.map((u) => Buffer.from(u)))
      expect(textOf(loaded.updates)).toBe(replica.text)
      expect(loaded.meta).toMatchObject({
        name,
        records: replica.updates.length,
        updates: replica.updates.length,
      })
    }
    expect(docs[0]!.replica.text).toBe(`${'hello, world! '.repeat(3)}[0][1][2][3][4]`)
  })

  it('compaction leaves one record that loads as the same document', async () => {
    const store = await open()
    // As a room does: load, then append each edit.
    const replica = new Replica((await store.load('doc')).updates)
    await Promise.all(replica.type('compact me').map((u) => store.append('doc', u)))
    await store.compact('doc', replica.state)
    const loaded = await store.load('doc')
    expect(loaded.updates).toHaveLength(1)
    const again = new Replica(loaded.updates)
    expect(again.text).toBe('compact me')
    expect(Y.encodeStateVector(again.doc)).toEqual(Y.encodeStateVector(replica.doc))
    expect(await store.info('doc')).toMatchObject({
      name: 'doc',
      records: 1,
      bytes: replica.state.byteLength,
      updates: 11,
    })
    expect(await raw.xLen(`${namespace}:v1:doc:{doc}:log`)).toBe(0)
  })

  it('a compaction keeps the entries another node appended meanwhile, and the relay API catches up', async () => {
    const a = await open({ nodeId: 'node-a' })
    const b = await open({ nodeId: 'node-b' })
    const onA = new Replica((await a.load('shared')).updates)
    await Promise.all(onA.type('aaaaa').map((u) => a.append('shared', u)))
    const afterOwn = a.includedId('shared')
    expect(afterOwn).not.toBe('0-0')

    // Node B writes without node A hearing of it; then A writes again.
    const onB = new Replica((await b.load('shared')).updates)
    await Promise.all(onB.type('BB').map((u) => b.append('shared', u)))
    await Promise.all(onA.type('a').map((u) => a.append('shared', u)))
    // A's position stops before B's entries: its document lacks them.
    expect(a.includedId('shared')).toBe(afterOwn)
    // A load for someone else (the HTTP API reads a document so) does not move it past them.
    expect(textOf((await a.load('shared')).updates)).toHaveLength(8)
    expect(a.includedId('shared')).toBe(afterOwn)

    // A compacts what it holds: B's entries (and A's last one) stay in the log.
    await a.compact('shared', onA.state)
    const loaded = await b.load('shared')
    expect(loaded.updates).toHaveLength(1 + 2 + 1)
    expect(chars(textOf(loaded.updates))).toBe(chars('aaaaaaBB'))

    // The relay: A reads what came after its position, applies the other node's entries, marks them.
    const read = await a.readSince('shared', afterOwn!)
    expect(read.state).toBeNull()
    expect(read.entries.map((e) => e.node)).toEqual(['node-b', 'node-b', 'node-a'])
    for (const entry of read.entries) if (entry.node !== a.nodeId) onA.apply(entry.update)
    a.markIncluded('shared', read.lastId)
    expect(a.includedId('shared')).toBe(read.lastId)
    await a.compact('shared', onA.state)
    const whole = await b.load('shared')
    expect(whole.updates).toHaveLength(1)
    expect(chars(textOf(whole.updates))).toBe(chars('aaaaaaBB'))

    // A reader behind the compaction gets the compacted state first.
    const behind = await b.readSince('shared', '0-0')
    expect(behind.state).not.toBeNull()
    expect(behind.entries).toEqual([])
    expect(chars(textOf([behind.state!]))).toBe(chars('aaaaaaBB'))

    // Once A's room is gone, the next load starts from the end of the log.
    await Promise.all(onB.type('B').map((u) => b.append('shared', u)))
    a.forget('shared')
    expect(a.includedId('shared')).toBeNull()
    await a.load('shared')
    expect(a.includedId('shared')).toBe((await b.readSince('shared', '0-0')).lastId)
  })

  it('nodes typing, relaying now and then and compacting at once lose nothing', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((nodeId) => open({ nodeId })))
    const replicas = await Promise.all(
      nodes.map(async (store) => new Replica((await store.load('busy')).updates)),
    )
    let expected = ''
    for (let round = 0; round < 24; round++) {
      await Promise.all(
        nodes.map(async (store, i) => {
          const replica = replicas[i]!
          const letter = String.fromCharCode(97 + i)
          const text = letter.repeat(1 + ((round + i) % 3))
          expected += text
          await Promise.all(replica.type(text).map((u) => store.append('busy', u)))
          // Each node relays on its own rhythm: some rounds it lags behind the others.
          if ((round + i) % 4 === 0) {
            const read = await store.readSince('busy', store.includedId('busy') ?? '0-0')
            if (read.state) replica.apply(read.state)
            for (const entry of read.entries) if (entry.node !== store.nodeId) replica.apply(entry.update)
            store.markIncluded('busy', read.lastId)
          }
        }),
      )
      // Every few rounds all three compact together, each with only what it holds.
      if (round % 3 === 2)
        await Promise.all(nodes.map((store, i) => store.compact('busy', replicas[i]!.state)))
    }
    const final = await nodes[0]!.load('busy')
    expect(chars(textOf(final.updates))).toBe(chars(expected))
    expect(await keys()).not.toContain(`${namespace}:v1:doc:{busy}:lock`)
  })

  it.each([
    { refusals: false, title: '' },
    { refusals: true, title: ', with Redis refusing writes now and then,' },
  ])(
    'random interleavings of appends, compactions and relay reads on three nodes$title lose nothing',
    async ({ refusals }) => {
      // Seeded, so that a failure can be replayed: mulberry32.
      let seed = 20_240_601
      const random = () => {
        seed = (seed + 0x6d2b79f5) | 0
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
      }
      const nodes = await Promise.all(['r1', 'r2', 'r3'].map((nodeId) => open({ nodeId })))
      const replicas = await Promise.all(
        nodes.map(async (store) => new Replica((await store.load('random')).updates)),
      )
      /** Brings a replica up to date with the log, as the cluster relay will. */
      const relay = async (i: number) => {
        const store = nodes[i]!
        const read = await store.readSince('random', store.includedId('random') ?? '0-0')
        if (read.state) replicas[i]!.apply(read.state)
        for (const entry of read.entries) if (entry.node !== store.nodeId) replicas[i]!.apply(entry.update)
        store.markIncluded('random', read.lastId)
      }
      // Out of memory now and then: Redis refuses every write (whole) meanwhile.
      let running = true
      const toggling = (async () => {
        for (let full = true; refusals && running; full = !full) {
          await raw.configSet('maxmemory', full ? '1' : '0')
          await new Promise((resolve) => setTimeout(resolve, 1 + random() * 4))
        }
        await raw.configSet('maxmemory', '0')
      })()
      let expected = ''
      const writes: Promise<unknown>[] = []
      const settle = (write: Promise<void>) => writes.push(refusals ? write.catch((e: unknown) => e) : write)
      await Promise.all(
        nodes.map(async (store, i) => {
          const replica = replicas[i]!
          for (let step = 0; step < 60; step++) {
            const dice = random()
            if (dice < 0.5) {
              const text = String.fromCharCode(97 + i).repeat(1 + Math.floor(random() * 3))
              expected += text
              for (const update of replica.type(text)) settle(store.append('random', update))
            } else if (dice < 0.65) {
              settle(store.compact('random', replica.state))
            } else if (dice < 0.8) {
              await relay(i)
            } else if (dice < 0.9) {
              await new Promise((resolve) => setImmediate(resolve))
            } else {
              await new Promise((resolve) => setTimeout(resolve, random() * 3))
            }
          }
        }),
      )
      running = false
      await toggling
      await Promise.all(writes)
      if (!refusals) expect(chars(textOf((await nodes[0]!.load('random')).updates))).toBe(chars(expected))
      // Each node catches up and compacts (a room does, after failed writes): everything is stored,
      // and the relay's marks let compactions trim other nodes' entries too.
      for (const [i, store] of nodes.entries()) {
        await relay(i)
        await store.compact('random', replicas[i]!.state)
      }
      const compacted = await nodes[0]!.load('random')
      expect(compacted.updates.length).toBeLessThanOrEqual(nodes.length + 1)
      expect(chars(textOf(compacted.updates))).toBe(chars(expected))
    },
  )

  it('a compaction waits for another node’s lock, and fails past lockWaitMs', async () => {
    const store = await open({ lockWaitMs: 300 })
    const replica = new Replica((await store.load('locked')).updates)
    await Promise.all(replica.type('xyz').map((u) => store.append('locked', u)))
    const lock = `${namespace}:v1:doc:{locked}:lock`

    // Held for 150 ms: the compaction waits for it to go, then runs.
    await raw.set(lock, 'someone-else', { PX: 150 })
    const started = performance.now()
    await store.compact('locked', replica.state)
    expect(performance.now() - started).toBeGreaterThanOrEqual(100)
    expect((await store.load('locked')).updates).toHaveLength(1)

    // Held for longer than the store waits: a write error, and nothing changed.
    await Promise.all(replica.type('!').map((u) => store.append('locked', u)))
    await raw.set(lock, 'someone-else', { PX: 10_000 })
    const error = await store.compact('locked', replica.state).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect(error).toMatchObject({
      code: 'TANDEM_ERR_STORE_WRITE',
      message: 'cannot compact "locked": another node has held its compaction lock for 300 ms',
    })
    expect((await store.load('locked')).updates).toHaveLength(2)
    expect((await raw.get(lock))?.toString()).toBe('someone-else')
  })

  it('delete removes every key of the document, versions included', async () => {
    const store = await open()
    for (const name of ['gone', 'kept']) {
      const replica = new Replica((await store.load(name)).updates)
      await Promise.all(replica.type('some text').map((u) => store.append(name, u)))
      await store.compact(name, replica.state)
      await Promise.all(replica.type('!').map((u) => store.append(name, u)))
      await store.addVersion(name, { at: 1, name: 'v', authors: [] }, replica.state, new Uint8Array([1]))
    }
    const before = await keys()
    expect(before.filter((k) => k.includes('{gone}')).map((k) => k.split(':').at(-1))).toEqual([
      'deltas',
      'head',
      'log',
      'meta',
      'state',
      'versions',
    ])
    await store.delete('gone')
    expect(await keys()).toEqual(before.filter((k) => !k.includes('{gone}')))
    expect(await store.info('gone')).toBeNull()
    expect(await store.load('gone')).toEqual({ updates: [], meta: null })
    expect(await store.versions('gone')).toEqual({ versions: [], head: null })
    expect((await store.list()).map((m) => m.name)).toEqual(['kept'])

    await store.delete('kept')
    expect(await keys()).toEqual([])

    // Written again, it is a new document.
    const again = new Replica()
    await Promise.all(again.type('new').map((u) => store.append('gone', u)))
    expect(textOf((await store.load('gone')).updates)).toBe('new')
  })

  it('list and info describe the stored documents, ordered by name', async () => {
    const store = await open()
    const t0 = Date.now()
    const sizes = new Map<string, { bytes: number; records: number }>()
    for (const name of ['b', 'a', 'c/d', 'ä']) {
      const updates = new Replica().type(name.repeat(3))
      await Promise.all(updates.map((u) => store.append(name, u)))
      sizes.set(name, { bytes: updates.reduce((sum, u) => sum + u.byteLength, 0), records: updates.length })
    }
    const list = await store.list()
    expect(list.map((m) => m.name)).toEqual(['a', 'b', 'c/d', 'ä'])
    for (const meta of list) {
      expect(meta).toEqual({
        name: meta.name,
        createdAt: expect.any(Number),
        updatedAt: expect.any(Number),
        bytes: sizes.get(meta.name)?.bytes,
        records: sizes.get(meta.name)?.records,
        updates: sizes.get(meta.name)?.records,
      })
      expect(meta.createdAt).toBeGreaterThanOrEqual(t0)
      expect(meta.updatedAt).toBeGreaterThanOrEqual(meta.createdAt)
      expect(await store.info(meta.name)).toEqual(meta)
    }
    expect(await store.info('nothing')).toBeNull()
  })

  it('versions round trip: records, deltas and head, numbered by the store across nodes', async () => {
    const a = await open()
    const b = await open()
    const authors = [{ id: 'u1', name: 'Ann' }, { id: 'u2' }]
    const first = await a.addVersion(
      'doc',
      { at: 1000, name: 'first', authors },
      new Uint8Array([1]),
      new Uint8Array([9, 1]),
    )
    expect(first).toEqual({ id: 1, at: 1000, name: 'first', authors })
    const [second, third] = await Promise.all([
      a.addVersion('doc', { at: 2000, name: null, authors: [] }, new Uint8Array([2]), new Uint8Array([9, 2])),
      b.addVersion(
        'doc',
        { at: 3000, name: 'third', authors: [] },
        new Uint8Array([3]),
        new Uint8Array([9, 3]),
      ),
    ])
    expect([second!.id, third!.id].sort()).toEqual([2, 3])
    const { versions, head } = await b.versions('doc')
    expect(versions.map((v) => v.id)).toEqual([1, 2, 3])
    expect(versions[0]).toEqual(first)
    expect(versions.find((v) => v.id === second!.id)).toEqual(second)
    expect(Buffer.from(head!)).toEqual(Buffer.from([9, third!.id === 3 ? 3 : 2]))
    const deltas = await a.versionDeltas('doc', 2)
    expect(deltas.map((d) => [...d])).toEqual([[1], [versions[1]!.name === null ? 2 : 3]])
    expect(await a.versionDeltas('doc', 0)).toEqual([])
    expect(await a.versionDeltas('doc', 10)).toHaveLength(3)
    expect(await a.versions('none')).toEqual({ versions: [], head: null })
  })

  it('records() is a backup that a LevelDB store opens as it is', async () => {
    const store = await open()
    const texts = new Map<string, string>()
    for (const name of ['plain', 'with:colon', '{braces}']) {
      // One loaded first (its compaction replaces the state), the others not (theirs append it).
      const replica = new Replica(name === 'plain' ? (await store.load(name)).updates : [])
      await Promise.all(replica.type(`${name} one`).map((u) => store.append(name, u)))
      await store.compact(name, replica.state)
      await Promise.all(replica.type(' two').map((u) => store.append(name, u)))
      await store.addVersion(
        name,
        { at: 5, name: 'v1', authors: [{ id: 'x' }] },
        replica.state,
        new Uint8Array([7]),
      )
      texts.set(name, replica.text)
    }
    const dir = await tempDataDir()
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeBackup(dir, store.records())
    const level = await openLevelStore({ dir })
    try {
      expect((await level.list()).map((m) => [m.name, m.records])).toEqual(
        [...texts.keys()].sort().map((name) => [name, 1 + 4]),
      )
      for (const [name, text] of texts) {
        expect(textOf((await level.load(name)).updates)).toBe(text)
        expect(await level.versions(name)).toEqual({
          versions: [{ id: 1, at: 5, name: 'v1', authors: [{ id: 'x' }] }],
          head: Buffer.from([7]),
        })
        const deltas = await store.versionDeltas(name, 1)
        expect(deltas).toHaveLength(1)
        expect((await level.versionDeltas(name, 1)).map((d) => Buffer.from(d))).toEqual(
          deltas.map((d) => Buffer.from(d)),
        )
      }
    } finally {
      await level.close()
    }
  })

  it('keeps names with : { } / % and any Unicode apart, each document’s keys under one hash tag', async () => {
    const store = await open()
    const names = [
      'a',
      'a:b',
      'a}:b',
      '{a}',
      'a/b',
      '%41',
      'A',
      '',
      'ünï',
      '日本語',
      '😀',
      '\ud800',
      '\ufffd',
      '*?[x]\\',
    ]
    await Promise.all(
      names.flatMap((name, i) => new Replica().type(`#${i}`).map((u) => store.append(name, u))),
    )
    for (const [i, name] of names.entries()) expect(textOf((await store.load(name)).updates)).toBe(`#${i}`)
    expect((await store.list()).map((m) => m.name).sort()).toEqual([...names].sort())
    const docKeys = (await keys()).filter((k) => k.includes(':v1:doc:'))
    expect(docKeys).toHaveLength(names.length * 2)
    const tags = new Set(docKeys.map((k) => /\{([^}]*)\}/.exec(k)?.[1]))
    expect(tags.size).toBe(names.length)
    for (const tag of tags) expect(tag).not.toBe('')
    for (const name of names) await store.delete(name)
    expect(await keys()).toEqual([])
  })

  it('a rejected append leaves nothing written, and the next compaction stores what it lacked', async () => {
    const a = await open({ nodeId: 'a' })
    const b = await open({ nodeId: 'b' })
    const onA = new Replica((await a.load('oom')).updates)
    const onB = new Replica((await b.load('oom')).updates)
    await Promise.all(onA.type('12').map((u) => a.append('oom', u)))
    const log = `${namespace}:v1:doc:{oom}:log`
    const entries = await raw.xLen(log)
    // Out of memory: Redis refuses the whole script, not part of it.
    await raw.configSet('maxmemory', '1')
    try {
      const error = await a.append('oom', onA.type('3')[0]!).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(StoreError)
      expect(error).toMatchObject({ code: 'TANDEM_ERR_STORE_WRITE' })
      expect((error as Error).message).toMatch(/^cannot append an update to "oom": Redis answered OOM/)
    } finally {
      await raw.configSet('maxmemory', '0')
    }
    expect(await raw.xLen(log)).toBe(entries)
    // A's document holds "3", which no entry holds: its compaction appends its state whole.
    await a.compact('oom', onA.state)
    // B, which never saw "3", compacts: it may not overwrite A's state.
    await Promise.all(onB.type('b').map((u) => b.append('oom', u)))
    await b.compact('oom', onB.state)
    expect(chars(textOf((await b.load('oom')).updates))).toBe(chars('123b'))
  })

  it('close waits for pending writes, is idempotent, and refuses writes after', async () => {
    const store = await open()
    const replica = new Replica()
    const pending = replica.type('last words').map((u) => store.append('doc', u))
    const closing = store.close()
    await Promise.all(pending)
    await closing
    await store.close()
    await expect(store.append('doc', new Uint8Array([0]))).rejects.toMatchObject({
      code: 'TANDEM_ERR_STORE_CLOSED',
    })
    await expect(store.load('doc')).rejects.toMatchObject({ code: 'TANDEM_ERR_STORE_CLOSED' })
    const other = await open()
    expect(textOf((await other.load('doc')).updates)).toBe('last words')
  })

  it('a Redis that stops answering fails appends within the bound, and what it applied late is kept', async () => {
    const proxy = await countingProxy(redis.port)
    cleanups.push(proxy.close)
    const commandTimeoutMs = 300
    const store = await open({ url: proxy.url, commandTimeoutMs })
    const replica = new Replica((await store.load('stalled')).updates)
    await Promise.all(replica.type('ok').map((u) => store.append('stalled', u)))

    proxy.hold()
    const started = performance.now()
    const reads = proxy.counts.toRedis
    const sent = store.append('stalled', replica.type('?')[0]!)
    // Queued behind it, once it has left, in a later turn: bounded from its own call, not from
    // the first's timeout.
    await until(() => proxy.counts.toRedis > reads, 5_000, 'the first append to be sent')
    const queued = store.append('stalled', replica.type('!')[0]!)
    const [first, second] = await Promise.all([
      sent.catch((e: unknown) => e),
      queued.catch((e: unknown) => e),
    ])
    const elapsed = performance.now() - started
    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(StoreError)
      expect((error as Error).message).toMatch(
        /^cannot append an update to "stalled": no answer from Redis within 300 ms( \(it waited behind earlier writes\))?$/,
      )
    }
    expect(elapsed).toBeLessThan(100 + commandTimeoutMs + 200)

    // The network heals: what was held reaches Redis before the next append, on the same connection.
    proxy.release()
    await Promise.all(replica.type('.').map((u) => store.append('stalled', u)))
    // The first was sent before the stall: applied late, though reported failed.
    expect(textOf((await store.load('stalled')).updates)).toMatch(/^ok\?/)
    // Whatever else the log lacks, the compaction after failed appends stores it.
    await store.compact('stalled', replica.state)
    expect(textOf((await store.load('stalled')).updates)).toBe('ok?!.')
  })

  it('a bad URL, or no Redis, fails to open with an error naming the URL without its password', async () => {
    await expect(openRedisStore({ url: 'http://127.0.0.1:1' })).rejects.toMatchObject({
      code: 'TANDEM_ERR_STORE_OPEN',
      message: expect.stringMatching(/^bad Redis URL http:\/\/127\.0\.0\.1:1/),
    })
    const port = await freePort()
    const started = performance.now()
    const error = await openRedisStore({
      url: `redis://admin:s3cret@127.0.0.1:${port}`,
      connectTimeoutMs: 300,
    }).catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(3000)
    expect(error).toBeInstanceOf(StoreError)
    expect(error).toMatchObject({ code: 'TANDEM_ERR_STORE_OPEN' })
    expect((error as Error).message).toContain(`redis://admin:***@127.0.0.1:${port}`)
    expect((error as Error).message).toContain('ECONNREFUSED')
    expect((error as Error).message).not.toContain('s3cret')
    await expect(openRedisStore({ url: redis.url, namespace: 'no{braces}' })).rejects.toThrow(
      'namespace: expected letters, digits and _.:-, got "no{braces}"',
    )
  })

  describe('with Redis restarted mid-session', () => {
    let own: RunningRedis
    beforeAll(async () => {
      own = await startRedis()
    })
    afterAll(async () => {
      await own?.cleanup()
    })

    it('keeps acknowledged appends, rejects writes within the bound while down, and works again after', async () => {
      const commandTimeoutMs = 400
      const store = await open({ url: own.url, commandTimeoutMs, reconnectMaxDelayMs: 100 })
      const replica = new Replica((await store.load('doc')).updates)
      await Promise.all(replica.type('before').map((u) => store.append('doc', u)))

      // SIGKILL: only what the AOF had when Redis acknowledged survives.
      await own.stop('SIGKILL')
      const started = performance.now()
      const error = await store.append('doc', replica.type('X')[0]!).catch((e: unknown) => e)
      const elapsed = performance.now() - started
      expect(error).toBeInstanceOf(StoreError)
      expect(error).toMatchObject({ code: 'TANDEM_ERR_STORE_WRITE' })
      expect((error as Error).message).toMatch(/^cannot append an update to "doc": /)
      expect(elapsed).toBeLessThan(commandTimeoutMs + 300)
      await expect(store.load('doc')).rejects.toMatchObject({ code: 'TANDEM_ERR_STORE_READ' })

      await own.start()
      // Back: the store reconnects by itself (and reloads its scripts into the new process).
      const after = replica.type(' after')
      await until(
        async () => {
          try {
            await store.append('doc', after[0]!)
            return true
          } catch {
            return false
          }
        },
        10_000,
        'the store to write again',
      )
      await Promise.all(after.slice(1).map((u) => store.append('doc', u)))
      await store.compact('doc', replica.state)
      const other = await open({ url: own.url })
      const text = textOf((await other.load('doc')).updates)
      expect(text).toBe('beforeX after')
    })
  })
})
