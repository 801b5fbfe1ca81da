/**
 * Big documents (issue 17): a long edited document in the editor's own shape (the XmlFragment
 * `prosemirror` holding one paragraph whose XmlText took every edit: single edits at random
 * places, a quarter of them deletions), stored through the real server as its author typed it.
 * Then, per round: restart the server, time a fresh stock y-websocket client from `new
 * WebsocketProvider` to the full text in its document (cold: the server serves it from the stored
 * bytes); keep that client in the room, let it type one letter (the server builds the document)
 * and time another fresh one (warm: the document in memory); then let both leave, wait for the
 * server to unload the document and time one more (reopened: a cold open in a server process
 * whose code is compiled). Medians over the rounds, cold ÷ warm, and the server's event-loop time
 * (bench/probe.ts) for each open.
 */
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { BenchClient, clockRanges } from './client.js'
import type { LoopStats } from './probe-link.js'
import { type ProcessUnderTest, removeDataDir, startTarget } from './proc.js'
import { connected, directorySize, type ScenarioResult, until } from './scenarios.js'
import { percentiles, ratio, round } from './stats.js'

/** The XmlFragment the editor binds to (content/convert.ts FRAGMENT, y-prosemirror's default). */
export const FRAGMENT = 'prosemirror'
const KB = 1024
/** The author's client ID: a 5-byte varint, like 94% of random 32-bit ones. */
const AUTHOR_ID = 3_000_000_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The paragraph's text of a document in this shape, or null while it has none. */
export function textOf(doc: Y.Doc): string | null {
  const paragraph = doc.getXmlFragment(FRAGMENT).get(0)
  const text = paragraph instanceof Y.XmlElement ? paragraph.get(0) : null
  return text instanceof Y.XmlText ? text.toString() : null
}

/**
 * Makes `edits` single edits to `doc`, each its own transaction (so its own update, as typed): a
 * quarter delete one character at a random place, the others insert a random letter at a random
 * place. Seeded (the LCG of bench/history.ts): the same document every run. Yields every 1,000
 * edits so that a connected client's socket writes what it queued.
 */
export async function editAtRandom(doc: Y.Doc, edits: number, seed = 42): Promise<string> {
  let state = seed
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  // A random client ID takes 1–5 bytes in every struct's origin IDs (almost always 5): fixed, the
  // document has the same size every run.
  if (doc.store.clients.size === 0) doc.clientID = AUTHOR_ID
  const fragment = doc.getXmlFragment(FRAGMENT)
  if (fragment.length === 0) {
    // What y-prosemirror writes for an empty document: one paragraph with its text.
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText()])
    fragment.insert(0, [paragraph])
  }
  const text = (fragment.get(0) as Y.XmlElement).get(0) as Y.XmlText
  for (let i = 1; i <= edits; i++) {
    if (text.length > 0 && next() < 0.25) text.delete(Math.floor(next() * text.length), 1)
    else
      text.insert(Math.floor(next() * (text.length + 1)), String.fromCharCode(97 + Math.floor(next() * 26)))
    if (i % 1000 === 0) await sleep(0)
  }
  return text.toString()
}

/** A stock y-websocket client that holds the full text: how long it took, its document, its close. */
export interface Opened {
  readonly ms: number
  readonly doc: Y.Doc
  close(): void
}

/** The stock `WebsocketProvider` on `doc`, with ws as its WebSocket (like test/helpers). */
function stockProvider(url: string, room: string, doc: Y.Doc): WebsocketProvider {
  return new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
}

/**
 * Opens `room` with the stock `WebsocketProvider` (ws as its WebSocket, like test/helpers) and
 * resolves once its document's text is `expected`, timed from the provider's creation.
 */
export function openStock(url: string, room: string, expected: string, timeoutMs = 60_000): Promise<Opened> {
  const doc = new Y.Doc()
  const started = performance.now()
  const provider = stockProvider(url, room, doc)
  const close = () => {
    provider.destroy()
    doc.destroy()
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      doc.off('update', check)
      close()
      reject(new Error(`${room}: the full text did not arrive within ${timeoutMs} ms`))
    }, timeoutMs)
    function check() {
      const text = textOf(doc)
      if (text === null || text.length !== expected.length || text !== expected) return
      const ms = performance.now() - started
      clearTimeout(timer)
      doc.off('update', check)
      resolve({ ms, doc, close })
    }
    doc.on('update', check)
  })
}

/**
 * Opens `room` with stock clients on `docs`, which hold the document already (tabs reconnecting
 * after a restart), and resolves once every provider is synced, with their close.
 */
async function openReturning(url: string, room: string, docs: readonly Y.Doc[]) {
  const count = docs.length
  // Every stock WebsocketProvider adds an `exit` listener to the process (y-websocket's own).
  process.setMaxListeners(Math.max(process.getMaxListeners(), count + 10))
  const providers = docs.map((doc) => stockProvider(url, room, doc))
  const close = () => {
    for (const provider of providers) {
      provider.destroy()
      provider.doc.destroy()
    }
  }
  const timeout = sleep(60_000).then(() => {
    throw new Error(`${room}: ${count} returning clients were not synced within 60 s`)
  })
  const synced = Promise.all(
    providers.map((provider) => new Promise((resolve) => provider.once('sync', resolve))),
  )
  try {
    await Promise.race([synced, timeout])
  } catch (error) {
    close()
    throw error
  }
  return close
}

/**
 * Types the document into `room` as its author would (every edit its own update message) and
 * waits until a fresh stock client reads all of it. Returns the text and the seconds it took.
 */
export async function storeByEdits(url: string, room: string, edits: number) {
  const started = performance.now()
  const author = await connected(url, room)
  let relayedTo = 0
  // An observer that applies nothing: the server relays an edit only once it is stored.
  const observer = new BenchClient({
    url,
    room,
    apply: false,
    ledger: {
      sent: () => undefined,
      received: (update) => {
        for (const range of clockRanges(update)) {
          if (range.author === author.doc.clientID) relayedTo = Math.max(relayedTo, range.to)
        }
      },
    },
  })
  await observer.connect(true)
  await observer.synced
  const text = await editAtRandom(author.doc, edits)
  const clock = Y.getState(author.doc.store, author.doc.clientID)
  await until(() => relayedTo >= clock, 300_000, 'the edits to be stored and relayed')
  // Trailing deletions carry no clock: a fresh client waits for them too.
  const check = await openStock(url, room, text, 120_000)
  check.close()
  author.close()
  observer.close()
  return { text, state: Y.encodeStateAsUpdate(author.doc), seconds: (performance.now() - started) / 1000 }
}

/** The server's documents built in memory, being loaded, and served unbuilt (its /metrics gauges). */
export async function roomsLoaded(
  server: ProcessUnderTest,
): Promise<{ loaded: number; loading: number; reading: number }> {
  const response = await fetch(`${server.url.replace(/^ws:/, 'http:')}/metrics`)
  const body = await response.text()
  const gauge = (name: string) => {
    const line = body.split('\n').find((l) => l.startsWith(`${name} `))
    if (!line) throw new Error(`/metrics has no ${name}`)
    return Number(line.split(' ')[1])
  }
  return {
    loaded: gauge('tandem_rooms_loaded'),
    loading: gauge('tandem_rooms_loading'),
    reading: gauge('tandem_rooms_reading'),
  }
}

/** The server's documents in memory or on their way there. */
export async function roomsInMemory(server: ProcessUnderTest): Promise<number> {
  const { loaded, loading, reading } = await roomsLoaded(server)
  return loaded + loading + reading
}

/** Resolves once the server holds no document in memory (within 10 s). */
async function unloaded(server: ProcessUnderTest, room: string): Promise<void> {
  const by = performance.now() + 10_000
  while ((await roomsInMemory(server)) > 0) {
    if (performance.now() > by) throw new Error(`${room} was not unloaded within 10 s`)
    await sleep(20)
  }
}

/** Types one letter at the start of the document's paragraph. */
function typeOne(doc: Y.Doc): void {
  const paragraph = doc.getXmlFragment(FRAGMENT).get(0) as Y.XmlElement
  ;(paragraph.get(0) as Y.XmlText).insert(0, 'x')
}

/** What one open cost: the client's time to the full text, the server's event loop meanwhile. */
interface Open {
  readonly ms: number
  readonly loop: LoopStats
}

function probeOf(server: ProcessUnderTest) {
  if (!server.probe) throw new Error('bigdoc needs the server started with its probe')
  return server.probe
}

async function timedOpen(server: ProcessUnderTest, room: string, text: string) {
  const probe = probeOf(server)
  await probe.loop()
  const opened = await openStock(server.url, room, text)
  return { open: { ms: opened.ms, loop: await probe.loop() } satisfies Open, opened }
}

/** `RETURNING` clients that hold the document reconnect to it unbuilt: their time to synced. */
async function timedReturn(server: ProcessUnderTest, room: string, state: Uint8Array): Promise<Open> {
  const probe = probeOf(server)
  // Each tab's copy is in place before the clock starts: applying it is not the server's work.
  const docs = Array.from({ length: RETURNING }, () => {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, state)
    return doc
  })
  await probe.loop()
  const started = performance.now()
  const close = await openReturning(server.url, room, docs)
  const open = { ms: performance.now() - started, loop: await probe.loop() }
  close()
  return open
}

/** Tabs that reconnect together to a document after a restart, in the `returning` row. */
const RETURNING = 10

const median = (values: readonly number[]) => percentiles(values).p50

/** Cold and warm opens of a fragmented `edits`-edit document, `rounds` server restarts. */
export async function bigDoc(edits: number, rounds: number): Promise<ScenarioResult> {
  let server = await startTarget('tandem', { probe: true })
  const dataDir = server.dataDir as string
  const room = 'bigdoc'
  try {
    const stored = await storeByEdits(server.url, room, edits)
    // One letter more each round (the change that has the server build the document).
    let text = stored.text
    const cold: Open[] = []
    const warm: Open[] = []
    const reopened: Open[] = []
    const returning: Open[] = []
    const apply: number[] = []
    let diskBytes = 0
    for (let r = 0; r < rounds; r++) {
      await server.stop()
      diskBytes = directorySize(dataDir)
      server = await startTarget('tandem', { dataDir, probe: true })
      const first = await timedOpen(server, room, text)
      cold.push(first.open)
      // The cold client stays and types: the document is built, in memory for the warm one. The
      // build is not the warm open's: let it finish first.
      typeOne(first.opened.doc)
      text = textOf(first.opened.doc) as string
      const builtBy = performance.now() + 30_000
      for (;;) {
        const { loaded, loading } = await roomsLoaded(server)
        if (loaded === 1 && loading === 0) break
        if (performance.now() > builtBy) throw new Error(`${room} was not built within 30 s`)
        await sleep(20)
      }
      await sleep(300)
      const second = await timedOpen(server, room, text)
      warm.push(second.open)
      second.opened.close()
      first.opened.close()
      // Unloaded, on a server whose code is warm: the load itself, without the restart's cold JIT.
      await unloaded(server, room)
      const third = await timedOpen(server, room, text)
      reopened.push(third.open)
      const held = Y.encodeStateAsUpdate(third.opened.doc)
      third.opened.close()
      apply.push(clientApplyMs(stored.state))
      // Unloaded again: tabs that hold the document come back to it, served unbuilt.
      await unloaded(server, room)
      returning.push(await timedReturn(server, room, held))
    }
    const coldMs = median(cold.map((o) => o.ms))
    const warmMs = median(warm.map((o) => o.ms))
    const coldOverWarm = ratio(coldMs, warmMs)
    const row = (open: string, opens: readonly Open[]) => ({
      open,
      'median ms': median(opens.map((o) => o.ms)),
      'runs ms': opens.map((o) => round(o.ms)).join(', '),
      'server loop busy ms (median)': round(median(opens.map((o) => o.loop.activeMs))),
      'server longest block ms (max)': round(Math.max(...opens.map((o) => o.loop.maxDelayMs))),
    })
    return {
      name:
        `big document: ${edits} edits at random places (25% deletions), ${rounds} restart${rounds === 1 ? '' : 's'} ` +
        `(${stored.text.length} characters left, encoded ${round(stored.state.byteLength / KB)} KB, ` +
        `on disk ${round(diskBytes / KB)} KB, typed through the server in ${round(stored.seconds)} s)`,
      rows: [
        row('cold (after a restart; served from the stored bytes)', cold),
        row('warm (document built, in memory)', warm),
        row('reopened (unloaded, same server process)', reopened),
        row(`${RETURNING} returning (clients holding it reconnect together, to synced; unbuilt)`, returning),
        {
          open: 'client apply alone',
          'median ms': median(apply),
          'runs ms': apply.map((ms) => round(ms)).join(', '),
        },
      ],
      checks: [
        {
          what: 'cold open ÷ warm open (medians, to the full text at a stock client)',
          value: coldOverWarm,
          target: '≤ 1.2',
          ok: coldOverWarm !== null && coldOverWarm <= 1.2,
        },
        {
          what: 'server event loop busy during a cold open, ms (median)',
          value: round(median(cold.map((o) => o.loop.activeMs))),
          target: '(report)',
          ok: true,
        },
      ],
    }
  } finally {
    await server.stop()
    removeDataDir(dataDir)
  }
}

/** Milliseconds a fresh Y.Doc takes to apply the whole document: every client's own share of an open. */
function clientApplyMs(state: Uint8Array): number {
  const doc = new Y.Doc()
  const started = performance.now()
  Y.applyUpdate(doc, state)
  const ms = performance.now() - started
  doc.destroy()
  return ms
}
