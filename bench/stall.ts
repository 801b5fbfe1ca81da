/**
 * Does one document stall the others (issue 17)? Fan-out rooms of typing clients (the loadgen of
 * `fanout`) run twice on the same server and data: alone, and while big documents in other rooms
 * are opened cold over and over (a client syncs one, types a letter so that the server builds it,
 * and leaves; the server compacts and unloads it, as the gauges on its /metrics show, and the
 * next one is opened). Rounds alternate the two; typing p99 is taken over each one's rounds
 * pooled, as in `fanout`.
 */
import { cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { editAtRandom, openStock, roomsInMemory, roomsLoaded } from './bigdoc.js'
import { BenchClient } from './client.js'
import { drive, type LoadPhase, type Measured } from './load.js'
import type { LoadSpec } from './loadgen.js'
import type { LoopStats } from './probe-link.js'
import { type ProcessUnderTest, removeDataDir, startTarget } from './proc.js'
import { fanoutSpec, type LoadRun, type ScenarioResult } from './scenarios.js'
import { percentiles, pooled, round } from './stats.js'

const KB = 1024
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Bounds of the opener: opens per run, and the wait for one open or one unload. */
const MAX_OPENS = 10_000
const OPEN_TIMEOUT_MS = 30_000
const UNLOAD_TIMEOUT_MS = 10_000

type Mode = 'alone' | 'with big documents'

interface StallRun {
  readonly mode: Mode
  readonly load: Measured
  /** The server's event loop over the measured window. */
  readonly loop: LoopStats
  /** Big-document opens that started within the window, and the time each took to its sync step 2. */
  readonly opensMs: number[]
  /** Opens after which the room was still in memory when the next one started. */
  readonly notUnloaded: number
}

/** Stores `state` into `room` through the server: a client holding it syncs with the empty room. */
async function storeState(url: string, room: string, state: Uint8Array, text: string): Promise<void> {
  const pusher = new BenchClient({
    url,
    room,
    apply: true,
    ledger: { sent: () => undefined, received: () => undefined },
  })
  // Before the socket opens, so nothing is sent as an update: the client answers the server's
  // sync step 1 with all of it.
  Y.applyUpdate(pusher.doc, state, pusher)
  await pusher.connect(true)
  await pusher.synced
  // A fresh client holds it only once it is stored: the server answers with stored state only.
  const check = await openStock(url, room, text, 120_000)
  check.close()
  pusher.close()
}

/**
 * Opens `rooms` in turn until `stop()` says so, one every `intervalMs` (or right after the previous
 * one when that took longer): each by a client that receives the whole document and applies
 * nothing (the server's work is the same; the bench's stays small), types one letter, waits for
 * the server to build the document and leaves; the next open waits until the server compacted
 * and unloaded it, so every open is a cold load, a build and a compaction.
 */
function openRepeatedly(
  server: ProcessUnderTest,
  rooms: readonly string[],
  minBytes: number,
  intervalMs: number,
) {
  let stopping = false
  const opens: { readonly at: number; readonly ms: number }[] = []
  let notUnloaded = 0
  const done = (async () => {
    const others = await roomsInMemory(server)
    for (let i = 0; i < MAX_OPENS && !stopping; i++) {
      const room = rooms[i % rooms.length] as string
      const at = performance.now()
      const client = new BenchClient({
        url: server.url,
        room,
        apply: false,
        ledger: { sent: () => undefined, received: () => undefined },
      })
      try {
        await client.connect(true)
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          client.synced,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${room} did not sync in time`)), OPEN_TIMEOUT_MS)
          }),
        ]).finally(() => clearTimeout(timer))
        if (client.bytesIn < minBytes) throw new Error(`${room}: sync step 2 was ${client.bytesIn} bytes`)
        opens.push({ at, ms: performance.now() - at })
        client.type('x')
        const deadline = performance.now() + OPEN_TIMEOUT_MS
        // Built once no document is being read or built: the big documents are the only ones.
        for (;;) {
          const { reading, loading } = await roomsLoaded(server)
          if (reading === 0 && loading === 0) break
          if (performance.now() > deadline)
            throw new Error(`${room} was not built in time (${reading} reading, ${loading} loading)`)
          await sleep(20)
        }
      } finally {
        client.close()
      }
      const deadline = performance.now() + UNLOAD_TIMEOUT_MS
      while ((await roomsInMemory(server)) > others) {
        if (performance.now() > deadline) {
          notUnloaded++
          break
        }
        await sleep(20)
      }
      const wait = at + intervalMs - performance.now()
      if (wait > 0 && !stopping) await sleep(wait)
    }
  })()
  return {
    opens,
    notUnloaded: () => notUnloaded,
    stop: () => {
      stopping = true
      return done
    },
  }
}

async function measureRun(
  mode: Mode,
  pristine: string,
  spec: Omit<LoadSpec, 'url'>,
  bigRooms: readonly string[],
  minBytes: number,
  intervalMs: number,
): Promise<StallRun> {
  // Each run on a copy of the same data: the typing of earlier runs is not in it.
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-stall-'))
  cpSync(pristine, dataDir, { recursive: true })
  const server = await startTarget('tandem', { dataDir, probe: true })
  const probe = server.probe
  if (!probe) throw new Error('stall needs the server started with its probe')
  try {
    let opener: ReturnType<typeof openRepeatedly> | null = null
    let windowFrom = 0
    let windowTo = 0
    let loop: Promise<LoopStats> | null = null
    let stopped: Promise<void> = Promise.resolve()
    const onPhase = (phase: LoadPhase) => {
      if (phase === 'connected' && mode !== 'alone') {
        opener = openRepeatedly(server, bigRooms, minBytes, intervalMs)
      }
      if (phase === 'measuring') {
        windowFrom = performance.now()
        void probe.loop()
      }
      if (phase === 'window') {
        windowTo = performance.now()
        loop = probe.loop()
        if (opener) stopped = opener.stop()
      }
    }
    const load = await drive(server, { ...spec, url: server.url }, onPhase)
    await stopped
    const windowLoop = await (loop ?? probe.loop())
    const finished = opener as ReturnType<typeof openRepeatedly> | null
    return {
      mode,
      load,
      loop: windowLoop,
      opensMs: (finished?.opens ?? []).filter((o) => o.at >= windowFrom && o.at < windowTo).map((o) => o.ms),
      notUnloaded: finished?.notUnloaded() ?? 0,
    }
  } finally {
    await server.stop()
    removeDataDir(dataDir)
  }
}

export interface StallOptions {
  readonly rooms: number
  readonly clients: number
  /** Edits of each big document, and how many such documents take turns. */
  readonly edits: number
  readonly bigRooms: number
  /** An open starts this long after the one before started (0: right after it, back to back). */
  readonly intervalMs: number
  readonly run: LoadRun
}

export async function stall(options: StallOptions): Promise<ScenarioResult> {
  const { rooms, clients, edits, run } = options
  const doc = new Y.Doc()
  const text = await editAtRandom(doc, edits)
  const state = Y.encodeStateAsUpdate(doc)
  const bigRooms = Array.from({ length: options.bigRooms }, (_, i) => `big-${i}`)
  const seed = await startTarget('tandem')
  const pristine = seed.dataDir as string
  try {
    for (const room of bigRooms) await storeState(seed.url, room, state, text)
  } finally {
    await seed.stop()
  }
  const spec = { ...fanoutSpec(rooms, clients, run), expectServerSync: true, hocuspocus: false }
  const runs: StallRun[] = []
  try {
    for (let i = 0; i < run.repeat; i++) {
      for (const mode of ['alone', 'with big documents'] as const) {
        runs.push(await measureRun(mode, pristine, spec, bigRooms, state.byteLength, options.intervalMs))
      }
    }
  } finally {
    removeDataDir(pristine)
  }
  const of = (mode: Mode) => runs.filter((r) => r.mode === mode)
  const p99 = (mode: Mode) => percentiles(pooled(of(mode).map((r) => r.load.latencies))).p99
  const difference = round(p99('with big documents') - p99('alone'))
  const row = (r: StallRun) => {
    const opens = percentiles(r.opensMs)
    return {
      mode: r.mode,
      'p50 ms': r.load.latencyMs.p50,
      'p99 ms': r.load.latencyMs.p99,
      'max ms': r.load.latencyMs.max,
      'delivered/s': Math.round(r.load.window.deliveredUpdates / r.load.window.seconds),
      'server CPU %': Math.round((r.load.serverCpuWindowSeconds / r.load.window.seconds) * 100),
      'server loop busy %': Math.round((r.loop.activeMs / (r.loop.activeMs + r.loop.idleMs)) * 100),
      'server longest block ms': round(r.loop.maxDelayMs),
      'big opens in window': r.opensMs.length,
      'big open ms (p50/max)': r.opensMs.length > 0 ? `${opens.p50} / ${opens.max}` : '',
      converged: `${r.load.convergedRooms}/${r.load.rooms}`,
    }
  }
  const worst = runs.reduce((w, r) => (r.load.convergedRooms < w.load.convergedRooms ? r : w))
  const notUnloaded = runs.reduce((sum, r) => sum + r.notUnloaded, 0)
  const title = run.repeat > 1 ? `, ${run.repeat} alternating runs each, p99 over each one's runs pooled` : ''
  return {
    name:
      `stall: fan-out ${rooms}×${clients} typing, alone and while ${bigRooms.length} documents of ` +
      `${edits} edits (${round(state.byteLength / KB)} KB) are opened cold, changed and compacted in turn, ` +
      `${options.intervalMs > 0 ? `one every ${options.intervalMs} ms` : 'back to back'}${title}`,
    rows: [
      ...runs.map(row),
      { mode: 'alone (pooled)', 'p99 ms': p99('alone') },
      { mode: 'with big documents (pooled)', 'p99 ms': p99('with big documents') },
    ],
    checks: [
      {
        what: 'typing p99 with big documents opening − alone, ms',
        value: difference,
        target: '≤ +20',
        ok: difference <= 20,
      },
      {
        what: 'big documents still in memory when the next open began (all runs)',
        value: notUnloaded,
        target: '(report: opens after one are not cold)',
        ok: true,
      },
      {
        what: 'rooms converged (worst run)',
        value: worst.load.convergedRooms,
        target: `${worst.load.rooms}`,
        ok: worst.load.convergedRooms === worst.load.rooms,
      },
    ],
  }
}
