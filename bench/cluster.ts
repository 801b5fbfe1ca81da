/**
 * The cluster scenario (issue 15): fanout's load (rooms × clients, every client typing 1–3
 * characters every 100–200 ms and moving its cursor) against the baseline relay, one Tandem node on
 * LevelDB, one Tandem node on Redis, and three Tandem nodes on one Redis with each room's clients
 * spread over them (client i of a room on node i mod 3), so that most deliveries cross Redis.
 *
 * Redis is Debian's redis-server on a free port of 127.0.0.1 in a temporary directory, fresh for
 * each run and removed after it, with `appendonly yes` and `appendfsync always`, as production runs
 * it for the durability contract (an update is relayed once it is in the AOF); the three nodes run
 * once more on `appendfsync everysec` (what LevelDB without `--fsync` is closer to: a crash of the
 * process loses nothing, a power cut the last second).
 *
 * Figures per target, over all its runs taken together: latency from send to receipt at each other
 * client of the room; CPU seconds per 1000 delivered updates of the servers (the relay, or the
 * Tandem nodes summed) and of Redis (/proc, its threads included), from the window's start until
 * settled as in fanout; Redis's network bytes in and out (INFO stats, less the INFO calls
 * themselves) and its AOF's growth over the same span, per edit the clients sent in the window
 * (awareness and the nodes' own traffic included). Ratios are reported figures: the issue states no
 * target for them; all rooms converging is the one check.
 *
 * The load runs in this process, not in loadgen.js, whose clients all go to one URL. Every loop is
 * bounded in count and time, and every process started here is stopped (and its directory
 * removed) whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BenchClient, clockRanges, firstStruct, type Ledger } from './client.js'
import { type ProcessUnderTest, redisServerArgs, removeDataDir, startTarget } from './proc.js'
import type { LoadRun, Row, ScenarioResult } from './scenarios.js'
import { percentiles, pooled, ratio, round } from './stats.js'

const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server'
const NODES = 3
const CLOCK_TICKS_PER_SECOND = 100
const MB = 1024 * 1024
const SETTLE_TIMEOUT_MS = 15_000
const SYNC_TIMEOUT_MS = 60_000
const REDIS_START_TIMEOUT_MS = 10_000
const REDIS_REPLY_TIMEOUT_MS = 2000
/** A process that has not exited this long after SIGTERM is killed. */
const STOP_TIMEOUT_MS = 10_000
const INFO = 'INFO stats persistence'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Fsync = 'always' | 'everysec'
interface Setup {
  readonly name: string
  readonly kind: 'relay' | 'leveldb' | 'redis'
  readonly nodes: number
  readonly appendfsync: Fsync | null
}
const RELAY: Setup = { name: 'relay', kind: 'relay', nodes: 1, appendfsync: null }
const LEVELDB: Setup = { name: 'tandem ×1 LevelDB', kind: 'leveldb', nodes: 1, appendfsync: null }
const REDIS_ONE: Setup = { name: 'tandem ×1 Redis always', kind: 'redis', nodes: 1, appendfsync: 'always' }
const REDIS_MANY: Setup = {
  name: `tandem ×${NODES} Redis always`,
  kind: 'redis',
  nodes: NODES,
  appendfsync: 'always',
}
const REDIS_MANY_EVERYSEC: Setup = {
  name: `tandem ×${NODES} Redis everysec`,
  kind: 'redis',
  nodes: NODES,
  appendfsync: 'everysec',
}
const SETUPS = [RELAY, LEVELDB, REDIS_ONE, REDIS_MANY, REDIS_MANY_EVERYSEC] as const

export interface ClusterSpec {
  readonly rooms: number
  readonly clients: number
  readonly run: LoadRun
}

/** Fanout's load on one node and on several nodes sharing one Redis; see the top of this file. */
export async function cluster(spec: ClusterSpec): Promise<ScenarioResult> {
  const name = `cluster ${spec.rooms}×${spec.clients}, ${NODES} nodes on one Redis`
  if (!existsSync(REDIS_SERVER)) {
    return {
      name,
      rows: [
        { target: 'skipped', reason: `no redis-server at ${REDIS_SERVER} (apt-get install redis-server)` },
      ],
      checks: [{ what: 'redis-server available', value: null, target: REDIS_SERVER, ok: false }],
    }
  }
  const runs = new Map<Setup, RunResult[]>(SETUPS.map((setup) => [setup, []]))
  // Alternating, so the machine's noise hits every target alike (as fanout does).
  for (let i = 0; i < spec.run.repeat; i++) {
    for (const setup of SETUPS) runs.get(setup)?.push(await measure(setup, spec))
  }
  const of = (setup: Setup) => runs.get(setup) ?? []
  const compare = (figure: Figure, a: Setup, b: Setup) => ratio(figure(of(a)), figure(of(b)))
  const report = (what: string, value: number | null): Check => ({
    what,
    value,
    target: '(report)',
    ok: true,
  })
  const checks: Check[] = [
    report(`p99 latency: ${LEVELDB.name} ÷ relay`, compare(p99, LEVELDB, RELAY)),
    report(`CPU per delivered update: ${LEVELDB.name} ÷ relay`, compare(cpuPerDelivered, LEVELDB, RELAY)),
  ]
  for (const setup of [REDIS_ONE, REDIS_MANY, REDIS_MANY_EVERYSEC]) {
    checks.push(
      report(`p99 latency: ${setup.name} ÷ ${LEVELDB.name}`, compare(p99, setup, LEVELDB)),
      report(
        `CPU per delivered update (nodes + Redis): ${setup.name} ÷ ${LEVELDB.name}`,
        compare(cpuPerDelivered, setup, LEVELDB),
      ),
      report(`Redis bytes per update (in + out): ${setup.name}`, round(redisBytesPerUpdate(of(setup)))),
    )
  }
  checks.push(
    report(`p99 latency: ${REDIS_MANY.name} ÷ ${REDIS_ONE.name}`, compare(p99, REDIS_MANY, REDIS_ONE)),
    report(
      `CPU per delivered update (nodes + Redis): ${REDIS_MANY.name} ÷ ${REDIS_ONE.name}`,
      compare(cpuPerDelivered, REDIS_MANY, REDIS_ONE),
    ),
  )
  for (const setup of SETUPS.slice(1)) {
    const worst = Math.min(...of(setup).map((r) => r.convergedRooms))
    checks.push({
      what: `rooms converged (worst run): ${setup.name}`,
      value: worst,
      target: `${spec.rooms}`,
      ok: worst === spec.rooms,
    })
  }
  const title = spec.run.repeat > 1 ? ` (${spec.run.repeat} alternating runs each, taken together)` : ''
  return { name: `${name}${title}`, rows: SETUPS.map((setup) => row(setup, of(setup))), checks }
}

type Check = ScenarioResult['checks'][number]

/** One run of one setup. CPU and Redis figures count from the window's start until settled. */
interface RunResult {
  readonly clients: number
  readonly latencies: Float64Array
  readonly delivered: number
  /** Edits the clients sent in the window. */
  readonly edits: number
  readonly windowSeconds: number
  readonly windowDelivered: number
  readonly loadCpuSeconds: number
  readonly nodesCpuSeconds: number
  readonly nodesCpuWindowSeconds: number
  readonly redisCpuSeconds: number
  readonly redisCpuWindowSeconds: number
  readonly redis: { readonly inBytes: number; readonly outBytes: number; readonly aofBytes: number } | null
  readonly nodesPeakRssBytes: number
  readonly convergedRooms: number
  readonly rooms: number
}

type Figure = (runs: readonly RunResult[]) => number
const total = (runs: readonly RunResult[], value: (r: RunResult) => number) =>
  runs.reduce((sum, r) => sum + value(r), 0)
const p99: Figure = (runs) => percentiles(pooled(runs.map((r) => r.latencies))).p99
/** CPU seconds of the nodes and Redis per delivered update. */
const cpuPerDelivered: Figure = (runs) => {
  const delivered = total(runs, (r) => r.delivered)
  return delivered > 0 ? total(runs, (r) => r.nodesCpuSeconds + r.redisCpuSeconds) / delivered : 0
}
const redisBytesPerUpdate: Figure = (runs) =>
  total(runs, (r) => (r.redis ? r.redis.inBytes + r.redis.outBytes : 0)) /
  Math.max(
    1,
    total(runs, (r) => r.edits),
  )

function row(setup: Setup, runs: readonly RunResult[]): Row {
  const { p50, p99 } = percentiles(pooled(runs.map((r) => r.latencies)))
  const delivered = total(runs, (r) => r.delivered)
  const seconds = total(runs, (r) => r.windowSeconds)
  const edits = Math.max(
    1,
    total(runs, (r) => r.edits),
  )
  const perThousand = (cpu: (r: RunResult) => number) =>
    delivered > 0 ? round((total(runs, cpu) * 1000) / delivered, 3) : null
  const percent = (cpu: (r: RunResult) => number) => Math.round((total(runs, cpu) / seconds) * 100)
  const redis = setup.kind === 'redis'
  const perUpdate = (bytes: (r: NonNullable<RunResult['redis']>) => number) =>
    redis ? Math.round(total(runs, (r) => (r.redis ? bytes(r.redis) : 0)) / edits) : null
  return {
    target: setup.name,
    clients: runs[0]?.clients ?? 0,
    'p50 ms': p50,
    'p99 ms': p99,
    'p99 ms per run': runs.map((r) => percentiles(r.latencies).p99).join(', '),
    'delivered/s': Math.round(total(runs, (r) => r.windowDelivered) / seconds),
    'server CPU s/1k delivered': perThousand((r) => r.nodesCpuSeconds),
    'Redis CPU s/1k delivered': redis ? perThousand((r) => r.redisCpuSeconds) : null,
    'total CPU s/1k delivered': perThousand((r) => r.nodesCpuSeconds + r.redisCpuSeconds),
    'server CPU %': percent((r) => r.nodesCpuWindowSeconds),
    'Redis CPU %': redis ? percent((r) => r.redisCpuWindowSeconds) : null,
    'load CPU %': percent((r) => r.loadCpuSeconds),
    'Redis in B/update': perUpdate((b) => b.inBytes),
    'Redis out B/update': perUpdate((b) => b.outBytes),
    'AOF B/update': perUpdate((b) => b.aofBytes),
    'peak RSS MB (servers)': round(Math.max(...runs.map((r) => r.nodesPeakRssBytes)) / MB),
    converged: `${Math.min(...runs.map((r) => r.convergedRooms))}/${runs[0]?.rooms ?? 0}`,
  }
}

/** Starts the setup's processes, runs the load against them, stops them. */
async function measure(setup: Setup, spec: ClusterSpec): Promise<RunResult> {
  const cleanups: (() => Promise<void>)[] = []
  try {
    const redis = setup.appendfsync === null ? null : await startRedis(setup.appendfsync)
    if (redis) cleanups.push(redis.stop)
    const nodes: ProcessUnderTest[] = []
    for (let i = 0; i < setup.nodes; i++) {
      const node = await startTarget(setup.kind === 'relay' ? 'relay' : 'tandem', {
        args: redis ? ['--redis-url', redis.url] : [],
      })
      cleanups.push(() => stopNode(node))
      nodes.push(node)
    }
    const read = async (): Promise<Reading> => ({
      nodesCpu: nodes.reduce((sum, node) => sum + node.cpuSeconds(), 0),
      redisCpu: redis?.cpuSeconds() ?? 0,
      redis: redis ? await redis.counters() : null,
    })
    const load = await runLoad(
      {
        urls: nodes.map((node) => node.url),
        expectServerSync: setup.kind !== 'relay',
        rooms: spec.rooms,
        clients: spec.clients,
        warmupMs: spec.run.warmupMs,
        durationMs: spec.run.durationMs,
      },
      read,
    )
    const { measuring: start, window, done } = load.readings
    return {
      clients: spec.rooms * spec.clients,
      latencies: load.latencies,
      delivered: load.latencies.length,
      edits: load.edits,
      windowSeconds: load.windowSeconds,
      windowDelivered: load.windowDelivered,
      loadCpuSeconds: load.loadCpuSeconds,
      nodesCpuSeconds: done.nodesCpu - start.nodesCpu,
      nodesCpuWindowSeconds: window.nodesCpu - start.nodesCpu,
      redisCpuSeconds: done.redisCpu - start.redisCpu,
      redisCpuWindowSeconds: window.redisCpu - start.redisCpu,
      redis:
        start.redis && done.redis
          ? {
              // The first INFO's reply and the last one's request fall inside the span.
              inBytes: done.redis.inBytes - start.redis.inBytes - (INFO.length + 2),
              outBytes: done.redis.outBytes - start.redis.outBytes - start.redis.replyBytes,
              aofBytes: done.redis.aofBytes - start.redis.aofBytes,
            }
          : null,
      nodesPeakRssBytes: nodes.reduce((sum, node) => sum + node.peakRssBytes(), 0),
      convergedRooms: load.convergedRooms,
      rooms: spec.rooms,
    }
  } finally {
    // Nodes first (they flush to Redis as they close), then Redis.
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (error) {
        console.error(`bench cluster: cleanup failed: ${String(error)}`)
      }
    }
  }
}

async function stopNode(node: ProcessUnderTest): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)
  })
  const tooLate = await Promise.race([node.stop().then(() => false), late])
  clearTimeout(timer)
  if (tooLate) {
    console.error(
      `bench cluster: ${node.target} ${node.pid} still running ${STOP_TIMEOUT_MS} ms after SIGTERM`,
    )
    await node.stop('SIGKILL')
  }
  removeDataDir(node.dataDir)
}

interface Reading {
  readonly nodesCpu: number
  readonly redisCpu: number
  readonly redis: RedisCounters | null
}

interface LoadOptions {
  readonly urls: readonly string[]
  readonly expectServerSync: boolean
  readonly rooms: number
  readonly clients: number
  readonly warmupMs: number
  readonly durationMs: number
}

/**
 * loadgen.ts's fanout load (every client a writer that applies what it receives), with client i of
 * each room on `urls[i % urls.length]`. `read` is called as the window starts, as it ends and once
 * settled (every room's clients holding the same text, or `SETTLE_TIMEOUT_MS` passed).
 */
async function runLoad(options: LoadOptions, read: () => Promise<Reading>) {
  /** Per author, when each of its edits (by first clock) was sent and its update's size. */
  const sentAt = new Map<number, Map<number, { readonly at: number; readonly bytes: number }>>()
  const latencies: number[] = []
  let measuring = false
  const delivered = (author: number, clock: number, at: number, by: BenchClient) => {
    if (!measuring || author === by.doc.clientID) return
    const edit = sentAt.get(author)?.get(clock)
    if (edit) latencies.push(at - edit.at)
  }
  const ledger: Ledger = {
    sent: (update, at) => {
      const { author, clock } = firstStruct(update)
      const edits = sentAt.get(author) ?? new Map()
      sentAt.set(author, edits.set(clock, { at, bytes: update.byteLength }))
    },
    received: (update, at, by) => {
      // As in loadgen: an edit as its author sent it is known without decoding; others (several
      // merged by a server) are read for their clock ranges.
      const head = firstStruct(update)
      if (
        head.clients === 1 &&
        head.structs === 1 &&
        sentAt.get(head.author)?.get(head.clock)?.bytes === update.byteLength
      ) {
        delivered(head.author, head.clock, at, by)
        return
      }
      for (const { author, from, to } of clockRanges(update)) {
        for (let clock = from; clock < to; clock++) delivered(author, clock, at, by)
      }
    },
  }
  const rooms: BenchClient[][] = []
  for (let r = 0; r < options.rooms; r++) {
    const room: BenchClient[] = []
    for (let c = 0; c < options.clients; c++) {
      const url = options.urls[c % options.urls.length] as string
      room.push(new BenchClient({ url, room: `room-${r}`, apply: true, ledger }))
    }
    rooms.push(room)
  }
  const all = rooms.flat()
  const timers: (NodeJS.Timeout | undefined)[] = []
  try {
    for (let i = 0; i < all.length; i += 500) {
      await Promise.all(all.slice(i, i + 500).map((c) => c.connect(options.expectServerSync)))
    }
    await within(Promise.all(all.map((c) => c.synced)), SYNC_TIMEOUT_MS, 'the clients to sync')

    let edits = 0
    const typingEnds = performance.now() + options.warmupMs + options.durationMs
    all.forEach((client, i) => {
      const tick = () => {
        if (performance.now() >= typingEnds) return
        client.type('abc'.slice(0, 1 + Math.floor(Math.random() * 3)))
        if (measuring) edits++
        timers[i] = setTimeout(tick, 100 + Math.random() * 100)
      }
      timers[i] = setTimeout(tick, Math.random() * 200)
    })
    if (options.warmupMs > 0) await sleep(options.warmupMs)
    const atStart = await read()
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    measuring = true
    await sleep(options.durationMs)
    for (const timer of timers) clearTimeout(timer)
    const windowSeconds = (performance.now() - started) / 1000
    const windowDelivered = latencies.length
    const windowEdits = edits
    const loadCpu = process.cpuUsage(cpu0)
    const atWindow = await read()

    const converged = (room: readonly BenchClient[]) => {
      const text = room[0]?.doc.getText('t').toString()
      return room.every((c) => c.doc.getText('t').toString() === text)
    }
    const settleBy = performance.now() + SETTLE_TIMEOUT_MS
    let convergedRooms = rooms.filter(converged).length
    while (convergedRooms < rooms.length && performance.now() < settleBy) {
      await sleep(100)
      convergedRooms = rooms.filter(converged).length
    }
    measuring = false
    const atDone = await read()
    return {
      latencies: Float64Array.from(latencies),
      edits: windowEdits,
      windowSeconds,
      windowDelivered,
      loadCpuSeconds: (loadCpu.user + loadCpu.system) / 1e6,
      readings: { measuring: atStart, window: atWindow, done: atDone },
      convergedRooms,
    }
  } finally {
    for (const timer of timers) clearTimeout(timer)
    for (const client of all) client.close()
  }
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
}

interface RedisCounters {
  /** INFO's total_net_input_bytes and total_net_output_bytes, aof_current_size. */
  readonly inBytes: number
  readonly outBytes: number
  readonly aofBytes: number
  /** Bytes of this INFO reply (counted in the next reading's output). */
  readonly replyBytes: number
}

interface RedisUnderTest {
  readonly url: string
  cpuSeconds(): number
  counters(): Promise<RedisCounters>
  /** Stops it (SIGTERM, SIGKILL if it lingers) and removes its directory. */
  stop(): Promise<void>
}

/** redis-server on a free port of 127.0.0.1 in a new temporary directory, once it answers PING. */
async function startRedis(appendfsync: Fsync): Promise<RedisUnderTest> {
  // A free port can be taken before redis-server binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'redis-bench-'))
    const port = await freePort()
    const child = spawn(REDIS_SERVER, redisServerArgs(port, dir, appendfsync), {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const stop = stopper(child, dir)
    try {
      const deadline = performance.now() + REDIS_START_TIMEOUT_MS
      while ((await command(port, 'PING').catch(() => '')) !== '+PONG') {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error('redis-server exited')
        if (performance.now() > deadline) throw new Error('redis-server did not answer PING in time')
        await sleep(20)
      }
      const pid = child.pid as number
      return {
        url: `redis://127.0.0.1:${port}`,
        cpuSeconds: () => cpuSecondsOf(pid),
        counters: async () => {
          const reply = await command(port, INFO)
          const fields = new Map(
            reply.split('\r\n').map((line) => line.split(':', 2) as [string, string | undefined]),
          )
          const field = (name: string) => {
            const value = Number(fields.get(name))
            if (!Number.isFinite(value)) throw new Error(`Redis INFO has no ${name}`)
            return value
          }
          return {
            inBytes: field('total_net_input_bytes'),
            outBytes: field('total_net_output_bytes'),
            aofBytes: field('aof_current_size'),
            replyBytes: Buffer.byteLength(reply) + `$${Buffer.byteLength(reply)}\r\n\r\n`.length,
          }
        },
        stop,
      }
    } catch (error) {
      await stop()
      if (attempt >= 3) throw new Error(`redis-server did not start: ${String(error)}\n${output}`)
    }
  }
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Sends one inline command on a new connection and resolves with the reply: a simple string or
 * error as is (`+PONG`, `-ERR …`), a bulk string's content. Fails after REDIS_REPLY_TIMEOUT_MS.
 */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = Buffer.alloc(0)
    const socket = connect(port, '127.0.0.1', () => socket.write(`${line}\r\n`))
    const finish = (error: Error | null, text = '') => {
      socket.destroy()
      if (error) reject(error)
      else resolve(text)
    }
    socket.setTimeout(REDIS_REPLY_TIMEOUT_MS, () => finish(new Error(`Redis did not answer ${line}`)))
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk])
      const end = reply.indexOf('\r\n')
      if (end < 0) return
      const head = reply.subarray(0, end).toString()
      if (!head.startsWith('$')) return finish(null, head)
      const length = Number(head.slice(1))
      if (reply.length >= end + 2 + length + 2)
        finish(null, reply.subarray(end + 2, end + 2 + length).toString())
    })
    socket.on('error', (error) => finish(error))
    socket.on('close', () => finish(new Error(`Redis closed the connection before answering ${line}`)))
  })
}
