/**
 * `npm run bench`: every scenario against the baseline relay and Tandem, in one run, on this
 * machine. Prints a table per scenario and the target checks; writes bench/results/latest.json.
 *
 *   npm run bench                      all scenarios, full size (several minutes)
 *   npm run bench -- --quick           all scenarios, small (about a minute)
 *   npm run bench -- --scenario fanout --rooms 20 --clients 10 --duration 20 --repeat 3
 *   npm run bench -- --scenario fanout --scenario largeroom --with hocuspocus
 *   npm run bench -- --scenario bigdoc --scenario stall --scenario flood     (issue 17)
 *   npm run bench -- --scenario cluster --rooms 20 --clients 10    (issue 15: needs redis-server)
 *
 * Flags: --scenario (fanout, connections, coldload, largeroom, persist, crash, history, bigdoc,
 * stall, flood; repeatable), --rooms/--clients (fanout, stall), --connections/--connection-rooms,
 * --edits (coldload, history, bigdoc, stall), --versions (history), --opens (bigdoc: restarts,
 * each a cold and a warm open), --big-rooms and --big-interval (stall: big documents opened in
 * turn, ms from one open's start to the next; 0: back to back),
 * --flood-seconds and --flood-rate (flood: s, MB/s), --large 300,500
 * and --writers (largeroom), --duration (s, measured), --warmup (s of typing before the measured
 * window, fanout and largeroom), --repeat (alternating runs per target), --with hocuspocus (also
 * measure that peer in fanout and largeroom, reported as Tandem ÷ peer), --against <dir> (fanout
 * and largeroom also measure the Tandem build of another checkout, its dist/ built, alternating
 * with this one, reported as this ÷ that), --out (JSON).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { bigDoc } from './bigdoc.js'
import { cluster } from './cluster.js'
import { flood } from './flood.js'
import { history } from './history.js'
import {
  coldLoad,
  connections,
  crash,
  fanout,
  type LoadRun,
  largeRoom,
  type Peer,
  persistence,
  type Row,
  type ScenarioResult,
} from './scenarios.js'
import { stall } from './stall.js'

const SCENARIOS = [
  'fanout',
  'connections',
  'coldload',
  'largeroom',
  'persist',
  'crash',
  'history',
  'bigdoc',
  'stall',
  'flood',
  'cluster',
] as const
const PEERS: readonly Peer[] = ['hocuspocus']
type Scenario = (typeof SCENARIOS)[number]

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    quick: { type: 'boolean' },
    rooms: { type: 'string' },
    clients: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'connection-rooms': { type: 'string' },
    edits: { type: 'string' },
    versions: { type: 'string' },
    opens: { type: 'string' },
    'big-rooms': { type: 'string' },
    'big-interval': { type: 'string' },
    'flood-seconds': { type: 'string' },
    'flood-rate': { type: 'string' },
    large: { type: 'string' },
    writers: { type: 'string' },
    repeat: { type: 'string' },
    with: { type: 'string', multiple: true },
    against: { type: 'string' },
    out: { type: 'string' },
  },
})

function number(flag: string, raw: string | undefined, fallback: number, zero = false): number {
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) {
    const what = zero ? 'a number ≥ 0' : 'a positive number'
    console.error(`bench: --${flag} must be ${what}, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return value
}

const quick = values.quick === true
const chosen = (values.scenario ?? [...SCENARIOS]) as Scenario[]
for (const name of chosen) {
  if (!SCENARIOS.includes(name)) {
    console.error(`bench: --scenario must be one of ${SCENARIOS.join(', ')}, got ${JSON.stringify(name)}`)
    process.exit(2)
  }
}
const peers = (values.with ?? []) as Peer[]
for (const peer of peers) {
  if (!PEERS.includes(peer)) {
    console.error(`bench: --with must be one of ${PEERS.join(', ')}, got ${JSON.stringify(peer)}`)
    process.exit(2)
  }
}
const against = values.against
if (against !== undefined && !existsSync(join(against, 'dist/server/main.js'))) {
  console.error(`bench: --against must be a Tandem checkout with dist/ built, got ${JSON.stringify(against)}`)
  process.exit(2)
}
const run: LoadRun = {
  // Servers run for days: measure them once their hot code is compiled, not while it compiles.
  warmupMs: number('warmup', values.warmup, quick ? 1 : 3, true) * 1000,
  durationMs: number('duration', values.duration, quick ? 4 : 20) * 1000,
  // Latency and CPU move with the machine's noise: alternate several runs and pool them.
  repeat: number('repeat', values.repeat, quick ? 1 : 3),
  peers,
  against,
}

async function runScenario(name: Scenario): Promise<ScenarioResult[]> {
  switch (name) {
    case 'fanout': {
      if (values.rooms || values.clients) {
        return [await fanout(number('rooms', values.rooms, 20), number('clients', values.clients, 10), run)]
      }
      return [await fanout(quick ? 5 : 20, quick ? 4 : 10, run), await fanout(1, quick ? 20 : 100, run)]
    }
    case 'connections':
      return [
        await connections(
          number('connections', values.connections, quick ? 1000 : 10_000),
          number('connection-rooms', values['connection-rooms'], quick ? 100 : 1000),
        ),
      ]
    case 'coldload':
      return [await coldLoad(number('edits', values.edits, quick ? 5000 : 50_000))]
    case 'largeroom': {
      const sizes = (values.large ?? (quick ? '60' : '300,500'))
        .split(',')
        .map((s) => number('large', s, 300))
      const results: ScenarioResult[] = []
      for (const size of sizes) results.push(await largeRoom(size, number('writers', values.writers, 5), run))
      return results
    }
    case 'persist':
      return [await persistence(quick ? 3000 : 10_000)]
    case 'crash':
      return [await crash(quick ? 2 : 5, quick ? 1000 : 3000)]
    case 'history':
      return [
        await history(
          number('edits', values.edits, quick ? 5000 : 50_000),
          number('versions', values.versions, quick ? 20 : 200),
        ),
      ]
    case 'bigdoc':
      return [
        await bigDoc(
          number('edits', values.edits, quick ? 5000 : 50_000),
          number('opens', values.opens, quick ? 3 : 7),
        ),
      ]
    case 'stall':
      return [
        await stall({
          rooms: number('rooms', values.rooms, quick ? 3 : 10),
          clients: number('clients', values.clients, quick ? 3 : 5),
          edits: number('edits', values.edits, quick ? 5000 : 50_000),
          bigRooms: number('big-rooms', values['big-rooms'], 2),
          intervalMs: number('big-interval', values['big-interval'], 1000, true),
          run,
        }),
      ]
    case 'flood':
      return [
        await flood({
          durationMs: number('flood-seconds', values['flood-seconds'], quick ? 3 : 10) * 1000,
          rateMBps: number('flood-rate', values['flood-rate'], 25),
        }),
      ]
    case 'cluster':
      return [
        await cluster({
          rooms: number('rooms', values.rooms, quick ? 5 : 20),
          clients: number('clients', values.clients, quick ? 4 : 10),
          run,
        }),
      ]
  }
}

function table(rows: readonly Row[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const line = (cells: readonly unknown[]) => `| ${cells.map((c) => String(c ?? '')).join(' | ')} |`
  return [
    line(columns),
    line(columns.map(() => '---')),
    ...rows.map((r) => line(columns.map((c) => r[c]))),
  ].join('\n')
}

const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  date: new Date().toISOString(),
}
console.log(`# Tandem benchmark (${quick ? 'quick' : 'full'})\n`)
console.log(`${machine.cpus} × ${machine.model}, Node ${machine.node}, ${machine.date}\n`)
const results: ScenarioResult[] = []
let failedChecks = 0
for (const name of chosen) {
  for (const result of await runScenario(name)) {
    results.push(result)
    console.log(`## ${result.name}\n\n${table(result.rows)}\n`)
    for (const check of result.checks) {
      if (!check.ok) failedChecks++
      console.log(
        `- ${check.ok ? 'ok  ' : 'MISS'} ${check.what}: ${check.value ?? 'n/a'} (target ${check.target})`,
      )
    }
    console.log('')
  }
}
const out = values.out ?? 'bench/results/latest.json'
mkdirSync(out.replace(/\/[^/]*$/, ''), { recursive: true })
writeFileSync(out, `${JSON.stringify({ machine, quick, results }, null, 2)}\n`)
console.log(`${results.length} scenarios, ${failedChecks} target(s) missed; JSON in ${out}`)
