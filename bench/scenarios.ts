/**
 * The benchmark scenarios. Each runs against the baseline relay and Tandem in the same run and
 * returns rows of figures plus the ratios the performance targets are stated in.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import * as Y from 'yjs'
import { BenchClient, clockRanges, type Ledger } from './client.js'
import { type Measured, measureLoad } from './load.js'
import { removeDataDir, startTarget, type Target } from './proc.js'
import { percentiles, pooled, ratio, round } from './stats.js'

export type Row = Record<string, string | number | boolean | null>
export interface ScenarioResult {
  readonly name: string
  readonly rows: Row[]
  /** Ratio name → Tandem ÷ baseline (or an absolute figure), with its target. */
  readonly checks: {
    readonly what: string
    readonly value: number | null
    readonly target: string
    readonly ok: boolean
  }[]
}

const MB = 1024 * 1024
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const noLedger: Ledger = { sent: () => undefined, received: () => undefined }

/** The row of one run; `label` names the target (the other build's runs are Tandem's too). */
function loadRow(m: Measured, label: string = m.target): Row {
  return {
    target: label,
    clients: m.clients,
    'p50 ms': m.latencyMs.p50,
    'p99 ms': m.latencyMs.p99,
    'max ms': m.latencyMs.max,
    'delivered/s': Math.round(m.window.deliveredUpdates / m.window.seconds),
    'msgs to clients/s': Math.round(m.window.messagesToClients / m.window.seconds),
    'KB to clients/s': Math.round(m.window.bytesToClients / m.window.seconds / 1024),
    'server CPU s/1k delivered':
      m.deliveredUpdates > 0 ? round((m.serverCpuSeconds * 1000) / m.deliveredUpdates, 3) : null,
    'server CPU %': Math.round((m.serverCpuWindowSeconds / m.window.seconds) * 100),
    'load CPU %': Math.round((m.window.loadCpuSeconds / m.window.seconds) * 100),
    'peak RSS MB': round(m.serverPeakRssBytes / MB),
    converged: `${m.convergedRooms}/${m.rooms}`,
  }
}

/** The label of the other Tandem build's runs (`LoadRun.against`). */
const AGAINST = 'tandem (against)'

/** A peer server measured alongside, for comparison only (no target is stated against it). */
export type Peer = Exclude<Target, 'relay' | 'tandem'>

/** How a load runs: unmeasured warm-up, then the measured window, on every target in turn. */
export interface LoadRun {
  readonly warmupMs: number
  readonly durationMs: number
  /** Rounds of relay, Tandem and peers, one after the other; ratios are over all rounds pooled. */
  readonly repeat: number
  readonly peers: readonly Peer[]
  /**
   * Another Tandem checkout (its `dist/` built) measured alongside in fan-out, in alternating
   * order with this one, and reported as this build ÷ that one: for changes smaller than the
   * machine's noise between runs an hour apart.
   */
  readonly against?: string
}

type Check = ScenarioResult['checks'][number]

/** A figure of one target over all its rounds taken together. */
type Figure = (runs: readonly Measured[]) => number
const sum = (runs: readonly Measured[], value: (m: Measured) => number) =>
  runs.reduce((total, m) => total + value(m), 0)
/** p99 of every latency sample of the rounds. */
const p99: Figure = (runs) => percentiles(pooled(runs.map((m) => m.latencies))).p99
/** Server CPU seconds per delivered update, over the rounds' windows. */
const cpuPerDelivered: Figure = (runs) => {
  const delivered = sum(runs, (m) => m.deliveredUpdates)
  return delivered > 0 ? sum(runs, (m) => m.serverCpuSeconds) / delivered : 0
}
const messagesPerSecond: Figure = (runs) =>
  sum(runs, (m) => m.window.messagesToClients) / sum(runs, (m) => m.window.seconds)

/**
 * Runs the relay, Tandem and the peers `repeat` times, alternating (so the machine's noise hits
 * all alike), and compares Tandem with the relay (or a peer) over all rounds taken together: each
 * target's latency samples pooled, its CPU seconds and deliveries summed. On these machines the
 * relay's own p99 moves severalfold from one run to the next; a ratio of two such runs, or the
 * median of three of them, moves with it, while pooled rounds average the noise before dividing.
 */
async function alternate(spec: Parameters<typeof measureLoad>[1], run: LoadRun) {
  /** What each round runs, by the label its rows carry: the targets, and the other build. */
  const runners = new Map<string, () => Promise<Measured>>()
  for (const target of ['relay', 'tandem', ...run.peers] as Target[])
    runners.set(target, () => measureLoad(target, spec))
  const { against } = run
  if (against) runners.set(AGAINST, () => measureLoad('tandem', spec, against))
  const rounds: Map<string, Measured>[] = []
  for (let i = 0; i < run.repeat; i++) {
    const round = new Map<string, Measured>()
    // The two builds swap places every round: neither always runs right after the relay.
    const order = [...runners.keys()]
    if (against && i % 2 === 1) {
      order[order.indexOf('tandem')] = AGAINST
      order[order.length - 1] = 'tandem'
    }
    for (const label of order) round.set(label, await (runners.get(label) as () => Promise<Measured>)())
    rounds.push(round)
  }
  const runsOf = (label: string) => rounds.map((round) => round.get(label) as Measured)
  /** Tandem ÷ `other` for `figure`, over all rounds. */
  const compare = (figure: Figure, other = 'relay') => ratio(figure(runsOf('tandem')), figure(runsOf(other)))
  /** Tandem ÷ each peer (and ÷ the other build) for the given figures, reported alongside the targets. */
  const peerChecks = (figures: [string, Figure][]): Check[] =>
    [...run.peers, ...(against ? [AGAINST] : [])].flatMap((peer) =>
      figures.map(([what, figure]) => ({
        what: `${what}: Tandem ÷ ${peer === AGAINST ? `the build in ${against}` : peer}`,
        value: compare(figure, peer),
        target: '(report)',
        ok: true,
      })),
    )
  const worstTandem = runsOf('tandem').reduce((worst, t) =>
    t.convergedRooms < worst.convergedRooms ? t : worst,
  )
  const title =
    run.repeat > 1 ? ` (${run.repeat} alternating runs each; ratios over all runs taken together)` : ''
  const rows = rounds.flatMap((round) => [...round].map(([label, m]) => loadRow(m, label)))
  return { rows, compare, peerChecks, worstTandem, title }
}

/** The fan-out load: every client of `rooms` rooms types and moves its cursor. */
export function fanoutSpec(rooms: number, clients: number, run: LoadRun) {
  return {
    rooms,
    clientsPerRoom: clients,
    writersPerRoom: clients,
    presentApply: true,
    presentMoveMs: 1000,
    warmupMs: run.warmupMs,
    durationMs: run.durationMs,
    idle: false,
    settleTimeoutMs: 15_000,
  }
}

/** Typing and cursors in many rooms: latency and cost per delivered update. */
export async function fanout(rooms: number, clients: number, run: LoadRun): Promise<ScenarioResult> {
  const spec = fanoutSpec(rooms, clients, run)
  const runs = await alternate(spec, run)
  const latency = runs.compare(p99)
  const cpu = runs.compare(cpuPerDelivered)
  const tandem = runs.worstTandem
  return {
    name: `fanout ${rooms}×${clients}${runs.title}`,
    rows: runs.rows,
    checks: [
      {
        what: 'p99 latency ÷ baseline',
        value: latency,
        target: '≤ 1.3',
        ok: latency !== null && latency <= 1.3,
      },
      {
        what: 'server CPU per delivered update ÷ baseline',
        value: cpu,
        target: '≤ 1.5',
        ok: cpu !== null && cpu <= 1.5,
      },
      {
        what: 'rooms converged (worst run)',
        value: tandem.convergedRooms,
        target: `${tandem.rooms}`,
        ok: tandem.convergedRooms === tandem.rooms,
      },
      ...runs.peerChecks([
        ['p99 latency', p99],
        ['server CPU per delivered update', cpuPerDelivered],
      ]),
    ],
  }
}

/** Many idle connections: time to sync them all, memory per connection. */
export async function connections(total: number, rooms: number): Promise<ScenarioResult> {
  const spec = {
    rooms,
    clientsPerRoom: Math.ceil(total / rooms),
    writersPerRoom: 0,
    presentApply: true,
    presentMoveMs: 1000,
    warmupMs: 0,
    durationMs: 1000,
    idle: true,
    settleTimeoutMs: 1000,
  }
  const results = [await measureLoad('relay', spec), await measureLoad('tandem', spec)]
  const perConnection = (m: Measured) => (m.serverRssConnectedBytes - m.serverRssIdleBytes) / m.clients
  const [relay, tandem] = results as [Measured, Measured]
  const memory = ratio(perConnection(tandem), perConnection(relay))
  return {
    name: `connections ${total} over ${rooms} rooms`,
    rows: results.map((m) => ({
      target: m.target,
      clients: m.clients,
      'all synced after ms': Math.round(m.connectMs),
      'RSS per connection KB': round(perConnection(m) / 1024),
      'RSS connected MB': round(m.serverRssConnectedBytes / MB),
    })),
    checks: [
      {
        what: 'memory per connection ÷ baseline',
        value: memory,
        target: '≤ 1.3',
        ok: memory !== null && memory <= 1.3,
      },
    ],
  }
}

/** A few writers and many present-only clients in one room. */
export async function largeRoom(clients: number, writers: number, run: LoadRun): Promise<ScenarioResult> {
  const spec = {
    rooms: 1,
    clientsPerRoom: clients,
    writersPerRoom: writers,
    presentApply: false,
    presentMoveMs: 1000,
    warmupMs: run.warmupMs,
    durationMs: run.durationMs,
    idle: false,
    settleTimeoutMs: 20_000,
  }
  const runs = await alternate(spec, run)
  const messages = runs.compare(messagesPerSecond)
  const latency = runs.compare(p99)
  const converged = runs.worstTandem.convergedRooms
  return {
    name: `large room ${clients} (${writers} writers)${runs.title}`,
    rows: runs.rows,
    checks: [
      {
        what: 'messages to clients ÷ baseline',
        value: messages,
        target: '≤ 0.5',
        ok: messages !== null && messages <= 0.5,
      },
      {
        what: "writers' p99 ÷ baseline",
        value: latency,
        target: clients <= 300 ? '≤ 2' : '(report)',
        ok: clients > 300 || (latency !== null && latency <= 2),
      },
      { what: 'every client converged (worst run)', value: converged, target: '1', ok: converged === 1 },
      ...runs.peerChecks([
        ["writers' p99", p99],
        ['server CPU per delivered update', cpuPerDelivered],
      ]),
    ],
  }
}

/** Bytes of every file under `dir`. */
export function directorySize(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    const stat = statSync(path)
    total += stat.isDirectory() ? directorySize(path) : stat.size
  }
  return total
}

/** A bench client connected to `room` and synced with the server. */
export async function connected(
  url: string,
  room: string,
  apply = true,
  ledger = noLedger,
  serverSync = true,
): Promise<BenchClient> {
  const client = new BenchClient({ url, room, apply, ledger })
  await client.connect(serverSync)
  await client.synced
  return client
}

/** Waits (polling every 5 ms) until `check` holds; throws after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Per author, the next clock a client's document expects. */
const stateVector = (client: BenchClient) => Y.decodeStateVector(Y.encodeStateVector(client.doc))

/** A document of `edits` single-character edits, loaded cold after a restart. */
export async function coldLoad(edits: number, runs = 3): Promise<ScenarioResult> {
  let server = await startTarget('tandem')
  const dataDir = server.dataDir as string
  try {
    const author = await connected(server.url, 'big')
    const observer = await connected(server.url, 'big')
    const text = author.doc.getText('t')
    for (let i = 0; i < edits; i++) {
      // Letters in no pattern, so the store's compression does not flatter the figure.
      text.insert(i, String.fromCharCode(97 + ((i * 7919 + (i >> 3) * 104_729) % 26)))
      if (i % 1000 === 999) await sleep(0)
    }
    await until(() => observer.doc.getText('t').length === edits, 120_000, 'the edits to arrive')
    const encodedBytes = Y.encodeStateAsUpdate(author.doc).byteLength
    author.close()
    observer.close()
    const timings: number[] = []
    let diskBytes = 0
    for (let run = 0; run < runs; run++) {
      await server.stop()
      diskBytes = directorySize(dataDir)
      server = await startTarget('tandem', { dataDir })
      const started = performance.now()
      const reader = await connected(server.url, 'big')
      timings.push(performance.now() - started)
      if (reader.doc.getText('t').length !== edits) throw new Error('cold load returned a partial document')
      reader.close()
    }
    const { p50 } = percentiles(timings)
    return {
      name: `cold load ${edits} edits`,
      rows: [
        {
          target: 'tandem',
          'load ms (median)': p50,
          'load ms (runs)': timings.map((t) => round(t)).join(', '),
          'encoded KB': round(encodedBytes / 1024),
          'on disk KB': round(diskBytes / 1024),
        },
      ],
      checks: [
        { what: 'cold load ms', value: p50, target: '< 100', ok: p50 < 100 },
        {
          what: 'disk ÷ encoded size',
          value: ratio(diskBytes, encodedBytes),
          target: '≤ 2',
          ok: diskBytes <= 2 * encodedBytes,
        },
      ],
    }
  } finally {
    await server.stop()
    removeDataDir(dataDir)
  }
}

/** Sustained persisted updates per second: writers keep `window` edits in flight each. */
async function throughput(
  target: Target,
  fsync: boolean,
  rooms: number,
  durationMs: number,
): Promise<number> {
  const server = await startTarget(target, { fsync })
  const window = 32
  try {
    let delivered = 0
    const clients: BenchClient[] = []
    const started = performance.now()
    let running = true
    for (let r = 0; r < rooms; r++) {
      const writer = await connected(server.url, `p-${r}`, true, noLedger, target === 'tandem')
      const ledger: Ledger = {
        sent: () => undefined,
        // The observer hears an edit only once the server stored it: then the writer sends another
        // (edits are one character: the clocks an update carries count its edits).
        received: (update) => {
          for (const { from, to } of clockRanges(update)) {
            delivered += to - from
            for (let i = from; running && i < to; i++) writer.type('x')
          }
        },
      }
      const observer = new BenchClient({ url: server.url, room: `p-${r}`, apply: false, ledger })
      await observer.connect(target === 'tandem')
      await observer.synced
      clients.push(writer, observer)
    }
    for (let r = 0; r < rooms; r++) for (let i = 0; i < window; i++) clients[r * 2]?.type('x')
    await sleep(durationMs)
    running = false
    const seconds = (performance.now() - started) / 1000
    for (const c of clients) c.close()
    return Math.round(delivered / seconds)
  } finally {
    await server.stop()
    removeDataDir(server.dataDir)
  }
}

export async function persistence(durationMs: number): Promise<ScenarioResult> {
  const relay = await throughput('relay', false, 4, durationMs)
  const off = await throughput('tandem', false, 4, durationMs)
  const on = await throughput('tandem', true, 4, durationMs)
  return {
    name: 'persistence throughput (4 rooms, 32 edits in flight each)',
    rows: [
      { target: 'relay (no disk)', 'updates/s': relay },
      { target: 'tandem', 'updates/s': off },
      { target: 'tandem --fsync', 'updates/s': on },
    ],
    checks: [
      {
        what: 'updates/s persisted (fsync off ÷ relay)',
        value: ratio(off, relay),
        target: '(report)',
        ok: true,
      },
    ],
  }
}

/** SIGKILL while people type: every update a client received must survive. */
export async function crash(rooms: number, durationMs: number): Promise<ScenarioResult> {
  let server = await startTarget('tandem')
  const dataDir = server.dataDir as string
  try {
    const writers: BenchClient[] = []
    const observers: BenchClient[] = []
    for (let r = 0; r < rooms; r++) {
      writers.push(await connected(server.url, `c-${r}`), await connected(server.url, `c-${r}`))
      observers.push(await connected(server.url, `c-${r}`))
    }
    const typing = setInterval(() => {
      for (const w of writers) w.type('k')
    }, 10)
    await sleep(durationMs)
    await server.stop('SIGKILL')
    clearInterval(typing)
    const seen = observers.map(stateVector)
    for (const c of [...writers, ...observers]) c.close()
    server = await startTarget('tandem', { dataDir })
    let lost = 0
    let relayed = 0
    for (let r = 0; r < rooms; r++) {
      const reader = await connected(server.url, `c-${r}`)
      const vector = stateVector(reader)
      // Every edit here is one character, one clock: clocks count edits.
      for (const [author, clock] of seen[r] ?? new Map<number, number>()) {
        relayed += clock
        lost += Math.max(0, clock - (vector.get(author) ?? 0))
      }
      reader.close()
    }
    return {
      name: 'SIGKILL during editing',
      rows: [{ target: 'tandem', 'updates relayed before the kill': relayed, 'lost after restart': lost }],
      checks: [{ what: 'relayed updates lost', value: lost, target: '0', ok: lost === 0 && relayed > 0 }],
    }
  } finally {
    await server.stop()
    removeDataDir(dataDir)
  }
}
