/**
 * Cluster mode in one process: several real servers on one real redis-server, stock clients on
 * each. (Nodes as separate processes behind nginx, killed and restarted: cluster-nginx.test.ts.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { type Client, connectClient, waitForDoc } from '../helpers/clients.js'
import { freePort } from '../helpers/nginx.js'
import { runCli } from '../helpers/process.js'
import { type RunningRedis, redisAvailable, startRedis } from '../helpers/redis.js'
import { savingClient } from '../helpers/saved.js'
import { type RunningServer, startServer } from '../helpers/server.js'
import { until, waitFor } from '../helpers/wait.js'

const text = (doc: Y.Doc) => doc.getText('t').toString()

describe('the tandem command in cluster mode', () => {
  it.each([
    [['--redis-url', 'localhost:6379'], 'tandem: --redis-url: redisUrl must be a redis:// or rediss:// URL'],
    [['--node-id', 'a b'], 'tandem: --node-id: nodeId must be 1 to 200 printable ASCII characters'],
  ])('refuses %j with exit 2, naming the flag', async (args, message) => {
    const { code, stderr } = await runCli(args)
    expect(code).toBe(2)
    expect(stderr).toContain(message)
  })

  it('names --redis-url when Redis cannot be reached, without its password', async () => {
    const port = await freePort()
    const { code, stderr } = await runCli([
      '--port',
      '0',
      '--redis-url',
      `redis://:hunter2@127.0.0.1:${port}`,
    ])
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^tandem: --redis-url: cannot open the Redis store at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/,
    )
    expect(stderr).not.toContain('hunter2')
  })
})

describe.runIf(redisAvailable())('cluster mode (in-process nodes)', () => {
  let redis: RunningRedis
  let namespace = 0
  const nodes: RunningServer[] = []
  const clients: Client[] = []

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis.cleanup()
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy()
    await Promise.all(nodes.splice(0).map((node) => node.cleanup()))
  })

  /** Starts `count` nodes on the test's Redis, in a database of their own. */
  async function startNodes(count: number): Promise<RunningServer[]> {
    const url = `${redis.url}/${++namespace % 16}`
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        startServer({ redisUrl: url, nodeId: `node-${namespace}-${i}` }),
      ),
    )
    nodes.push(...started)
    return started
  }

  function client(node: RunningServer, room: string, params: Record<string, string> = {}): Client {
    const c = connectClient(node.url, room, { params })
    clients.push(c)
    return c
  }

  it('relays edits between clients on different nodes, and a third node loads them all', async () => {
    const [a, b, c] = await startNodes(3)
    const onA = client(a!, 'doc')
    const onB = client(b!, 'doc')
    await Promise.all([onA.synced(), onB.synced()])
    onA.doc.getText('t').insert(0, 'hello ')
    await waitForDoc(onB.doc, () => text(onB.doc) === 'hello ')
    onB.doc.getText('t').insert(6, 'world')
    await waitForDoc(onA.doc, () => text(onA.doc) === 'hello world')
    const onC = client(c!, 'doc')
    await onC.synced()
    await waitForDoc(onC.doc, () => text(onC.doc) === 'hello world')
  })

  it('converges under concurrent edits on every node', async () => {
    const started = await startNodes(3)
    const all = started.flatMap((node) => [client(node, 'busy'), client(node, 'busy')])
    await Promise.all(all.map((c) => c.synced()))
    for (let round = 0; round < 20; round++) {
      all.forEach((c, i) => {
        c.doc.getText('t').insert(0, String.fromCharCode(97 + i))
      })
      await new Promise((resolve) => setImmediate(resolve))
    }
    const expected = 20 * all.length
    for (const c of all) await waitForDoc(c.doc, () => text(c.doc).length === expected, 15_000)
    const first = text(all[0]!.doc)
    for (const c of all) expect(text(c.doc)).toBe(first)
  })

  it('shares awareness between nodes, and drops it when the node that had it stops', async () => {
    const [a, b] = await startNodes(2)
    const onA = client(a!, 'cursors')
    const onB = client(b!, 'cursors')
    await Promise.all([onA.synced(), onB.synced()])
    onA.provider.awareness.setLocalStateField('user', { name: 'Ada' })
    const seenOnB = () => onB.provider.awareness.getStates().get(onA.doc.clientID)
    await until(() => seenOnB()?.user?.name === 'Ada', 10_000, 'B to see A’s cursor')
    // A node's heartbeat key goes when it stops; B removes what A's clients announced.
    await a!.stop()
    await until(() => seenOnB() === undefined, 10_000, 'A’s cursor to disappear on B')
  })

  it('tells clients on other nodes when a document is deleted', async () => {
    const [a, b] = await startNodes(2)
    const onA = client(a!, 'doomed')
    await onA.synced()
    onA.doc.getText('t').insert(0, 'bye')
    const onB = client(b!, 'doomed')
    await onB.synced()
    await waitForDoc(onB.doc, () => text(onB.doc) === 'bye')
    const closed = new Promise<number>((resolve) =>
      onB.provider.on('connection-close', (event) => resolve((event as CloseEvent | null)?.code ?? 0)),
    )
    const response = await fetch(`http://127.0.0.1:${a!.port}/api/docs/doomed`, { method: 'DELETE' })
    expect(response.status).toBe(204)
    expect(await closed).toBe(4410)
  })

  it('reports Redis being away in /healthz and /metrics', async () => {
    const [a] = await startNodes(1)
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${a!.port}/healthz`)
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    expect((await health()).status).toBe(200)
    await redis.stop()
    try {
      await until(async () => (await health()).status === 503, 10_000, '/healthz to answer 503')
      expect((await health()).body.status).toBe('redis-unavailable')
      const metrics = await (await fetch(`http://127.0.0.1:${a!.port}/metrics`)).text()
      expect(metrics).toMatch(/^tandem_redis_up 0$/m)
    } finally {
      await redis.start()
    }
    await until(async () => (await health()).status === 200, 15_000, '/healthz to answer 200 again')
  })

  it('acknowledges nothing while Redis is away, then stores it and tells the other nodes', async () => {
    const [a, b, c] = await startNodes(3)
    const writer = savingClient(client(a!, 'away', { saved: '1' }))
    const reader = client(b!, 'away')
    await Promise.all([writer.synced(), reader.synced()])
    writer.doc.getText('t').insert(0, 'before ')
    writer.mark(1)
    await writer.acked(1)
    await redis.stop()
    let restarted = false
    try {
      writer.doc.getText('t').insert(7, 'during')
      writer.mark(2)
      // The append fails within the store's 5 s command timeout; no acknowledgement meanwhile.
      await waitFor(a!.server, 'persistError', () => true, 10_000)
      expect(writer.acks).toEqual([1])
      await redis.start()
      restarted = true
      await writer.acked(2, 15_000)
    } finally {
      if (!restarted) await redis.start()
    }
    await waitForDoc(reader.doc, () => text(reader.doc) === 'before during', 15_000)
    const fresh = client(c!, 'away')
    await waitForDoc(fresh.doc, () => text(fresh.doc) === 'before during')
  })
})
