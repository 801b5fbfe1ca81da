import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { encodeAwareness, encodeUpdate } from '../../protocol/wire.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import {
  expectUnharmed,
  rawSocket,
  seedRoom,
  sendAndClose,
  textUpdate,
  upgradeStatus,
} from '../helpers/raw.js'
import { useInstrumentedServer } from '../helpers/stores.js'
import { until, waitFor } from '../helpers/wait.js'

/** Two edits of one client written as two sections of one update (v1: clients, sections, deletions). */
function repeatedSection(): Uint8Array {
  const doc = new Y.Doc()
  const [first, second] = [textUpdate('ab', doc), textUpdate('cd', doc)]
  // Each holds one section and no deletions: [1, …section…, 0].
  return new Uint8Array([2, ...first.subarray(1, -1), ...second.subarray(1, -1), 0])
}

/** Reads a metric (`name` with its labels, as /metrics prints them); 0 when it has no line. */
async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line ? Number(line.split(' ').pop()) : 0
}

/** Reads tandem_errors_total{code=…} from /metrics. */
const rejections = (port: number, code: string) => metric(port, `tandem_errors_total{code="${code}"}`)

describe('malformed input closes only the offending connection, with a precise code', () => {
  const fixture = useServer()

  it.each([
    ['random bytes', [new Uint8Array([0xff, 0xfe, 0x13, 0x37])], 1002, 'unknown message type'],
    ['a truncated varint', [new Uint8Array([0x80])], 1002, 'malformed message: truncated message'],
    ['an unknown message type', [new Uint8Array([7])], 1002, 'unknown message type 7'],
    ['an unknown sync type', [new Uint8Array([0, 9, 0])], 1002, 'unknown sync message type 9'],
    ['trailing bytes', [new Uint8Array([3, 3])], 1002, 'malformed message: trailing bytes after message'],
    ['a text frame', ['hello'], 1003, 'text frames are not supported'],
    [
      'invalid Yjs update bytes',
      [encodeUpdate(new Uint8Array([5, 200, 1, 2, 3]))],
      1007,
      'invalid document update',
    ],
    [
      // Valid structs, but one client's section twice: Yjs would keep one of them, a merge both.
      'an update that repeats a client section',
      [encodeUpdate(repeatedSection())],
      1007,
      'a client section repeats or skips clocks',
    ],
    ['invalid awareness bytes', [encodeAwareness(new Uint8Array([2, 1]))], 1007, 'invalid awareness update'],
    [
      'an awareness state that is not JSON',
      // One entry: client 42, clock 1, state `{"cursor":` (10 bytes).
      [encodeAwareness(new Uint8Array([1, 42, 1, 10, ...Buffer.from('{"cursor":')]))],
      1007,
      'a state is not JSON',
    ],
    [
      // `{"n":"` + 0xff + `"}`: JSON to a lenient decoder, but stock clients decode fatally.
      'an awareness state that is not UTF-8',
      [encodeAwareness(new Uint8Array([1, 42, 1, 9, ...Buffer.from('{"n":"'), 0xff, ...Buffer.from('"}')]))],
      1007,
      'a state is not JSON',
    ],
    ['a saved marker without opting in', [new Uint8Array([100, 1])], 1002, 'saved markers need the saved=1'],
  ] as const)('%s', async (_what, frames, code, reason) => {
    const { running } = fixture
    const before = await seedRoom(running, 'safe', 'precious words')
    const errorsBefore = await rejections(running.port, code === 1003 ? 'TANDEM_ERR_TEXT_FRAME' : 'WS_ERR')
    const closed = await sendAndClose(`${running.url}/target`, frames)
    expect(closed.code).toBe(code)
    expect(closed.reason).toContain(reason)
    await expectUnharmed(running, 'safe', before)
    if (code === 1003) expect(await rejections(running.port, 'TANDEM_ERR_TEXT_FRAME')).toBe(errorsBefore + 1)
  })

  it('a frame over the size limit closes with 1009', async () => {
    const { running } = fixture
    const before = await seedRoom(running, 'safe', 'precious words')
    const closed = await sendAndClose(`${running.url}/target`, [
      encodeUpdate(new Uint8Array(17 * 1024 * 1024)),
    ])
    expect(closed.code).toBe(1009)
    await expectUnharmed(running, 'safe', before)
  })

  it('invalid update bytes never reach the document or the store', async () => {
    const { running } = fixture
    const before = await seedRoom(running, 'target', 'kept')
    // A valid struct followed by garbage: nothing of it may be applied.
    const valid = textUpdate('half')
    const broken = new Uint8Array([...valid.subarray(0, valid.length - 1), 0xff, 0xff, 0xff])
    const closed = await sendAndClose(`${running.url}/target`, [encodeUpdate(broken)])
    expect(closed.code).toBe(1007)
    await expectUnharmed(running, 'target', before)
  })

  it('updates with missing dependencies pile up only to a bound, then the sender is closed with 1008', async () => {
    const { running } = fixture
    const before = await seedRoom(running, 'target', 'kept')
    const author = new Y.Doc()
    author.getText('t').insert(0, 'x'.repeat(4000))
    const socket = rawSocket(`${running.url}/target`)
    await socket.opened
    // Each update depends on the one before it, which is never sent.
    let sent = 0
    author.on('update', (update: Uint8Array) => {
      if (socket.ws.readyState === socket.ws.OPEN) socket.ws.send(encodeUpdate(update))
      sent++
    })
    for (let i = 0; i < 500 && socket.ws.readyState === socket.ws.OPEN; i++) {
      author.getText('t').insert(0, 'y'.repeat(4000))
      await new Promise((r) => setImmediate(r))
    }
    const closed = await socket.closed
    expect(closed.code).toBe(1008)
    expect(closed.reason).toBe('updates waiting for missing changes exceed 1048576 bytes')
    expect(sent).toBeLessThan(500)
    await expectUnharmed(running, 'target', before)
  })

  it('an awareness update for another connection’s client ID is dropped', async () => {
    const { running } = fixture
    const alice = fixture.client('aw')
    await alice.synced()
    alice.provider.awareness.setLocalStateField('user', { name: 'Alice' })
    const watcher = fixture.client('aw')
    await watcher.synced()
    await waitFor(watcher.provider.awareness, 'change', () => {
      const state = watcher.provider.awareness.getStates().get(alice.doc.clientID)
      return (state?.user as { name?: string } | undefined)?.name === 'Alice'
    })
    // Mallory claims Alice's client ID with a newer clock.
    const fake = new awarenessProtocol.Awareness(new Y.Doc())
    fake.clientID = alice.doc.clientID
    fake.setLocalState({ user: { name: 'Mallory' } })
    fake.setLocalState({ user: { name: 'Mallory!' } })
    fake.setLocalState({ user: { name: 'Mallory!!' } })
    const mallory = rawSocket(`${running.url}/aw`)
    await mallory.opened
    mallory.ws.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(fake, [fake.clientID])))
    await until(async () => (await rejections(running.port, 'TANDEM_ERR_AWARENESS_NOT_OWNED')) === 1)
    // Had the server taken Mallory's state (clock 3), it would ignore Alice's next one (clock 2).
    alice.provider.awareness.setLocalStateField('user', { name: 'Alice again' })
    await waitFor(watcher.provider.awareness, 'change', () => {
      const state = watcher.provider.awareness.getStates().get(alice.doc.clientID)
      return (state?.user as { name?: string } | undefined)?.name === 'Alice again'
    })
    expect(mallory.ws.readyState).toBe(mallory.ws.OPEN)
    mallory.ws.close()
  })

  it('gives a client back on a new socket its cursor once its old, silent socket fails a ping', async () => {
    const alice = fixture.client('moved')
    const watcher = fixture.client('moved')
    await Promise.all([alice.synced(), watcher.synced()])
    const cursorOfAlice = () => watcher.provider.awareness.getStates().get(alice.doc.clientID)?.cursor
    alice.provider.awareness.setLocalStateField('cursor', 1)
    await waitFor(watcher.provider.awareness, 'change', () => cursorOfAlice() === 1)
    // Alice's network goes away without a word: her old socket stops reading (no pong, no close),
    // and the heartbeat would take 30 to 60 s to notice.
    ;(alice.provider.ws as unknown as { _socket: Socket })._socket.pause()
    // The same tab (same awareness client ID) comes back on a new socket.
    const doc = new Y.Doc()
    doc.clientID = alice.doc.clientID
    const back = fixture.client('moved', { doc })
    await back.synced()
    // Its moves (with clocks past the old socket's) claim the ID: dropped, and the owner is pinged.
    back.provider.awareness.setLocalStateField('cursor', 2)
    back.provider.awareness.setLocalStateField('cursor', 3)
    expect(cursorOfAlice()).toBe(1)
    // The old socket does not answer: it is dropped, Alice's state with it, long before the
    // heartbeat (30 s) would have noticed.
    const present = () => watcher.provider.awareness.getStates().has(alice.doc.clientID)
    await waitFor(watcher.provider.awareness, 'change', () => !present(), 10_000)
    // The tab's next move is relayed from its new socket.
    back.provider.awareness.setLocalStateField('cursor', 4)
    await waitFor(watcher.provider.awareness, 'change', () => cursorOfAlice() === 4)
  })

  it('an awareness message over the size limit closes with 1008', async () => {
    const { running } = fixture
    const big = new awarenessProtocol.Awareness(new Y.Doc())
    big.setLocalState({ blob: 'x'.repeat(70 * 1024) })
    const closed = await sendAndClose(`${running.url}/aw`, [
      encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(big, [big.clientID])),
    ])
    expect(closed).toEqual({ code: 1008, reason: 'awareness update over 65536 bytes' })
  })

  it.each([
    ['/a/../b', 'room name contains a ".." segment'],
    ['/..', 'room name contains a ".." segment'],
    ['/bad%00name', 'room name contains control characters'],
    ['/bad%0Aname', 'room name contains control characters'],
    [`/${'x'.repeat(513)}`, 'room name is longer than 512 bytes'],
    ['/%E0%A4%A', 'room name is not valid percent-encoding'],
  ])('refuses the room name %s with HTTP 400 before the upgrade', async (path, message) => {
    const { running } = fixture
    const { status, body } = await upgradeStatus(running, path)
    expect(status).toBe(400)
    expect(body.trim()).toBe(message)
    expect(await rejections(running.port, 'TANDEM_ERR_BAD_ROOM_NAME')).toBe(1)
  })
})

describe('limits', () => {
  describe('handshakes', () => {
    const fixture = useServer({ handshakeTimeoutMs: 300 })

    it('drops a connection whose request headers never finish', async () => {
      const socket = connect(fixture.running.port, '127.0.0.1')
      socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n')
      const answer = new Promise<string>((resolve) => {
        let text = ''
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString()
        })
        socket.once('close', () => resolve(text))
      })
      expect(await answer).toMatch(/^HTTP\/1\.1 408 /)
    })
  })

  describe('origins', () => {
    const fixture = useServer({ allowedOrigins: ['https://app.example.com'] })

    it('refuses a browser upgrade from another origin with HTTP 403, and allows the listed one', async () => {
      const { running } = fixture
      const refused = await upgradeStatus(running, '/doc', { origin: 'https://evil.example' })
      expect(refused).toEqual({ status: 403, body: 'origin https://evil.example is not allowed\n' })
      expect((await upgradeStatus(running, '/doc', { origin: 'https://app.example.com' })).status).toBe(101)
      // Non-browser clients send no Origin.
      expect((await upgradeStatus(running, '/doc')).status).toBe(101)
      expect(await rejections(running.port, 'TANDEM_ERR_ORIGIN')).toBe(1)
    })
  })

  describe('connections', () => {
    const fixture = useServer({ maxConnectionsPerIp: 3 })

    it('refuses connections past the per-address limit with HTTP 429, and frees the slot on close', async () => {
      const { running } = fixture
      const open = [
        rawSocket(`${running.url}/a`),
        rawSocket(`${running.url}/b`),
        rawSocket(`${running.url}/c`),
      ]
      await Promise.all(open.map((s) => s.opened))
      const refused = await upgradeStatus(running, '/d')
      expect(refused).toEqual({ status: 429, body: 'more than 3 connections from 127.0.0.1\n' })
      open[0]?.ws.close()
      await open[0]?.closed
      await until(async () => (await upgradeStatus(running, '/d')).status === 101)
      for (const s of open) s.ws.close()
    })
  })

  describe('rooms', () => {
    const fixture = useServer({ maxConnectionsPerRoom: 2, maxRooms: 2 })

    it('closes a connection to a full document with 1013', async () => {
      const { running } = fixture
      const a = fixture.client('full')
      const b = fixture.client('full')
      await Promise.all([a.synced(), b.synced()])
      const third = rawSocket(`${running.url}/full`)
      expect(await third.closed).toEqual({ code: 1013, reason: 'document has 2 connections' })
    })

    it('closes a connection that would load one document too many with 1013', async () => {
      const { running } = fixture
      const a = fixture.client('one')
      const b = fixture.client('two')
      await Promise.all([a.synced(), b.synced()])
      const third = rawSocket(`${running.url}/three`)
      expect(await third.closed).toEqual({ code: 1013, reason: '2 documents are open' })
      // Documents already open still take newcomers.
      const c = fixture.client('one')
      await c.synced()
    })
  })

  describe('rates', () => {
    const fixture = useServer({ maxMessagesPerSecond: 20, maxBytesPerSecond: 10_000, maxMessageBytes: 4096 })

    it('closes a connection that floods messages with 1008', async () => {
      const { running } = fixture
      const before = await seedRoom(running, 'safe', 'calm')
      const flood = Array.from({ length: 200 }, () => new Uint8Array([3]))
      expect(await sendAndClose(`${running.url}/flood`, flood)).toEqual({
        code: 1008,
        reason: 'more than 20 messages per second',
      })
      await expectUnharmed(running, 'safe', before)
      expect(await rejections(running.port, 'TANDEM_ERR_RATE_LIMIT')).toBe(1)
    })

    it('closes a connection that floods bytes with 1008', async () => {
      const { running } = fixture
      const chunk = encodeAwareness(new Uint8Array(3000))
      const flood = Array.from({ length: 30 }, () => chunk)
      expect(await sendAndClose(`${running.url}/flood`, flood)).toEqual({
        code: 1008,
        reason: 'more than 10000 bytes per second',
      })
    })

    it('lets a client that types at a human pace through, without closing it once', async () => {
      const { running } = fixture
      // The stock provider reconnects and resyncs after any close, so the text would arrive
      // even through a wrong 1008: the closes themselves are what must not happen.
      const closes: number[] = []
      running.server.on('disconnection', ({ code }) => closes.push(code))
      const a = fixture.client('pace')
      const b = fixture.client('pace')
      let dropped = 0
      for (const c of [a, b]) c.provider.on('connection-close', () => dropped++)
      await Promise.all([a.synced(), b.synced()])
      // 48 keystrokes, one message each, as fast as a fast typist (one every 60 ms, about 16 a
      // second): under the rate of 20, but more than the burst of 40, so only the refill lets the
      // last ones through. The pause between keys is the pace under test, not a wait.
      const typed = 'Typing fast, but still slower than the limit. Ok'
      for (const key of typed) {
        a.doc.getText('t').insert(a.doc.getText('t').length, key)
        await new Promise((resolve) => setTimeout(resolve, 60))
      }
      await waitForDoc(b.doc, () => b.doc.getText('t').toString() === typed)
      // A close of a is seen by its provider before anything it resends can reach b.
      expect({ closes, dropped }).toEqual({ closes: [], dropped: 0 })
    })
  })

  describe('slow consumers', () => {
    const fixture = useServer({ maxBufferedBytes: 256 * 1024 })

    it('closes a reader whose send buffer passes the limit with 1013, and the others keep receiving', async () => {
      const { running } = fixture
      const slow = rawSocket(`${running.url}/busy`)
      await slow.opened
      // Stop reading: the kernel buffers fill, then the server's send buffer grows.
      const raw = (slow.ws as unknown as { _socket: Socket })._socket
      raw.pause()
      const writer = fixture.client('busy')
      const reader = fixture.client('busy')
      await Promise.all([writer.synced(), reader.synced()])
      const chunk = 'x'.repeat(200_000)
      // Edit after edit, as people type: the reader keeps up, the slow socket's buffer grows.
      for (let i = 1; i <= 40; i++) {
        writer.doc.getText('t').insert(0, chunk)
        await waitForDoc(reader.doc, () => reader.doc.getText('t').length === i * chunk.length)
      }
      raw.resume()
      expect(await slow.closed).toEqual({ code: 1013, reason: 'send buffer full: reconnect and resync' })
      expect(await rejections(running.port, 'TANDEM_ERR_SLOW_CONSUMER')).toBe(1)
    })
  })

  describe('back-pressure', () => {
    const fixture = useInstrumentedServer({ maxUnsavedBytes: 64 * 1024 })

    it('stops reading a writer whose updates wait for the store, and reads on once they are written', async () => {
      const { running, store } = fixture
      const writer = fixture.client('flooded')
      const reader = fixture.client('flooded')
      const other = fixture.client('flooded')
      await Promise.all([writer.synced(), reader.synced(), other.synced()])
      let release = () => {}
      store.holdAppends = new Promise<void>((resolve) => {
        release = resolve
      })
      const chunk = 'x'.repeat(40_000)
      for (let i = 0; i < 3; i++) writer.doc.getText('t').insert(0, chunk)
      await until(async () => (await metric(running.port, 'tandem_connections_paused')) === 1)
      // Sent now, it waits unread in the kernel: nobody can see it before the writes complete.
      writer.provider.awareness.setLocalStateField('marker', 1)
      const has = (field: string) => () =>
        [...reader.provider.awareness.getStates().values()].some((s) => s[field] === 1)
      const seen = has('marker')
      // Another client's change, sent after it, comes through: read, the marker would have too.
      other.provider.awareness.setLocalStateField('probe', 1)
      await waitFor(reader.provider.awareness, 'change', has('probe'))
      expect(seen()).toBe(false)
      expect(reader.doc.getText('t').length).toBe(0)
      store.holdAppends = null
      release()
      await waitFor(reader.provider.awareness, 'change', seen)
      await waitForDoc(reader.doc, () => reader.doc.getText('t').length === 3 * chunk.length)
      expect(await metric(running.port, 'tandem_connections_paused')).toBe(0)
    })
  })
})
