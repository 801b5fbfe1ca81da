/**
 * The load generator, a child process of the bench: opens the clients of a scenario against one
 * target, types and moves cursors on a schedule, and reports latency, traffic and convergence.
 * Talks to its parent over IPC: `connected` → (parent reads the server) → `go` → `done` → `result`.
 * Every loop is bounded by a count and by time.
 */
import { BenchClient, type Ledger } from './client.js'
import { percentiles } from './stats.js'

export interface LoadSpec {
  readonly url: string
  /** Tandem answers sync step 1; the relay has no state of its own. */
  readonly expectServerSync: boolean
  readonly rooms: number
  readonly clientsPerRoom: number
  /** Clients per room that type; the others only move their cursor (and, unless `presentApply`, apply nothing). */
  readonly writersPerRoom: number
  readonly presentApply: boolean
  /** Writers type every 100–200 ms; present clients move their cursor every ~`presentMoveMs`. */
  readonly presentMoveMs: number
  readonly durationMs: number
  /** Idle clients: connect, sync, do nothing (the connections scenario). */
  readonly idle: boolean
  readonly settleTimeoutMs: number
}

export interface LoadResult {
  readonly clients: number
  readonly connectMs: number
  readonly edits: number
  readonly latencyMs: {
    readonly p50: number
    readonly p99: number
    readonly max: number
    readonly samples: number
  }
  readonly deliveredUpdates: number
  readonly messagesToClients: number
  readonly bytesToClients: number
  readonly windowSeconds: number
  readonly convergedRooms: number
  readonly rooms: number
  readonly loadCpuSeconds: number
}

type FromParent = { readonly type: 'spec'; readonly spec: LoadSpec } | { readonly type: 'go' }

const send = (message: unknown) => process.send?.(message)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const messages: FromParent[] = []
let wake: (() => void) | null = null
process.on('message', (message: FromParent) => {
  messages.push(message)
  wake?.()
})
async function next(): Promise<FromParent> {
  while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve))
  return messages.shift() as FromParent
}

async function run(spec: LoadSpec): Promise<void> {
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  let measuring = false
  const ledger: Ledger = {
    sent: (key, at) => sentAt.set(key, at),
    received: (key, at) => {
      const start = sentAt.get(key)
      if (measuring && start !== undefined) latencies.push(at - start)
    },
  }
  const rooms: BenchClient[][] = []
  const connectStarted = performance.now()
  for (let r = 0; r < spec.rooms; r++) {
    const room: BenchClient[] = []
    for (let c = 0; c < spec.clientsPerRoom; c++) {
      const writer = c < spec.writersPerRoom
      room.push(
        new BenchClient({ url: spec.url, room: `room-${r}`, apply: writer || spec.presentApply, ledger }),
      )
    }
    rooms.push(room)
  }
  const all = rooms.flat()
  // Connect in waves so the handshakes do not all land at once.
  for (let i = 0; i < all.length; i += 500) {
    await Promise.all(all.slice(i, i + 500).map((c) => c.connect(spec.expectServerSync)))
  }
  await Promise.all(all.map((c) => c.synced))
  const connectMs = performance.now() - connectStarted
  send({ type: 'connected', connectMs })
  await next()

  const counters = () => {
    const total = { messages: 0, bytes: 0, updates: 0 }
    for (const c of all) {
      total.messages += c.messagesIn
      total.bytes += c.bytesIn
      total.updates += c.updatesIn
    }
    return total
  }
  const before = counters()
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  measuring = true
  let edits = 0
  const timers: NodeJS.Timeout[] = []
  if (!spec.idle) {
    for (const room of rooms) {
      room.forEach((client, index) => {
        const writer = index < spec.writersPerRoom
        const tick = () => {
          if (performance.now() - started >= spec.durationMs) return
          if (writer) {
            client.type('abc'.slice(0, 1 + Math.floor(Math.random() * 3)))
            edits++
            timers.push(setTimeout(tick, 100 + Math.random() * 100))
          } else {
            client.moveCursor()
            timers.push(setTimeout(tick, spec.presentMoveMs * (0.5 + Math.random())))
          }
        }
        timers.push(setTimeout(tick, Math.random() * (writer ? 200 : spec.presentMoveMs)))
      })
    }
  }
  await sleep(spec.durationMs)
  for (const timer of timers) clearTimeout(timer)
  const windowSeconds = (performance.now() - started) / 1000

  // Converged: the writers of a room hold the same document, and every present client received every edit.
  const converged = (room: BenchClient[]) => {
    const writers = room.slice(0, spec.writersPerRoom)
    const text = writers[0]?.doc.getText('t').toString()
    if (!writers.every((w) => w.doc.getText('t').toString() === text)) return false
    const keys = new Set<string>()
    for (const w of writers) for (const k of w.keys) keys.add(k)
    return room.slice(spec.writersPerRoom).every((p) => p.keys.size >= keys.size)
  }
  const settleBy = performance.now() + spec.settleTimeoutMs
  let convergedRooms = 0
  while (performance.now() < settleBy) {
    convergedRooms = rooms.filter(converged).length
    if (convergedRooms === rooms.length) break
    await sleep(100)
  }
  measuring = false
  const after = counters()
  const cpu = process.cpuUsage(cpu0)
  send({ type: 'done' })
  const result: LoadResult = {
    clients: all.length,
    connectMs,
    edits,
    latencyMs: { ...percentiles(latencies), samples: latencies.length },
    deliveredUpdates: after.updates - before.updates,
    messagesToClients: after.messages - before.messages,
    bytesToClients: after.bytes - before.bytes,
    windowSeconds,
    convergedRooms,
    rooms: rooms.length,
    loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
  }
  for (const client of all) client.close()
  send({ type: 'result', result })
}

const first = await next()
if (first.type !== 'spec') throw new Error('loadgen: expected a spec first')
await run(first.spec)
process.exit(0)
