/**
 * The load generator, a child process of the bench: opens the clients of a scenario against one
 * target, types and moves cursors on a schedule, and reports latency, traffic and convergence.
 * Talks to its parent over IPC: `connected` → (parent reads the server) → `go` → typing starts →
 * `measuring` (after the warm-up; the parent reads the server's CPU) → `window` (typing stopped;
 * again) → `done` (settled; again) → `result`.
 * Every loop is bounded by a count and by time.
 */

import { BenchClient, clockRanges, firstStruct, type Ledger } from './client.js'
import { percentiles } from './stats.js'

export interface LoadSpec {
  readonly url: string
  /** Tandem answers sync step 1; the relay has no state of its own. */
  readonly expectServerSync: boolean
  /** The target speaks Hocuspocus's framing. */
  readonly hocuspocus: boolean
  readonly rooms: number
  readonly clientsPerRoom: number
  /** Clients per room that type; the others only move their cursor (and, unless `presentApply`, apply nothing). */
  readonly writersPerRoom: number
  readonly presentApply: boolean
  /** Writers type every 100–200 ms; present clients move their cursor every ~`presentMoveMs`. */
  readonly presentMoveMs: number
  /**
   * Typing before the measured window, so that what is measured is the steady state of a server
   * that has been running (its hot code compiled), for both targets alike.
   */
  readonly warmupMs: number
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
  /** Every latency sample of the window, in ms (for figures over several runs taken together). */
  readonly latencies: Float64Array
  /** Edits delivered from the window's start until settled (what the server's CPU is counted over). */
  readonly deliveredUpdates: number
  /** Counted over the measured window alone, for rates: a target that falls behind catches up after. */
  readonly window: {
    readonly seconds: number
    readonly deliveredUpdates: number
    readonly messagesToClients: number
    readonly bytesToClients: number
    readonly loadCpuSeconds: number
  }
  readonly convergedRooms: number
  readonly rooms: number
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
  /** Per author, its edits by first clock: when each was sent, and its update's size. */
  const sentAt = new Map<number, Map<number, { readonly at: number; readonly bytes: number }>>()
  /** Edits each client sent, and edits of others each client received (warm-up included). */
  const editsOut = new Map<BenchClient, number>()
  const editsIn = new Map<BenchClient, number>()
  const latencies: number[] = []
  let measuring = false
  const delivered = (author: number, clock: number, at: number, by: BenchClient) => {
    const edit = author === by.doc.clientID ? undefined : sentAt.get(author)?.get(clock)
    if (!edit) return
    editsIn.set(by, (editsIn.get(by) ?? 0) + 1)
    if (measuring) latencies.push(at - edit.at)
  }
  const ledger: Ledger = {
    sent: (update, at, by) => {
      const { author, clock } = firstStruct(update)
      const edits = sentAt.get(author) ?? new Map()
      sentAt.set(author, edits.set(clock, { at, bytes: update.byteLength }))
      editsOut.set(by, (editsOut.get(by) ?? 0) + 1)
    },
    received: (update, at, by) => {
      // Most updates are one edit as its author sent it (same first struct, same size): known
      // without decoding. Others (several merged by a server) are read for their clock ranges.
      const head = firstStruct(update)
      const whole = head.clients === 1 && head.structs === 1
      if (whole && sentAt.get(head.author)?.get(head.clock)?.bytes === update.byteLength) {
        delivered(head.author, head.clock, at, by)
        return
      }
      for (const { author, from, to } of clockRanges(update)) {
        for (let clock = from; clock < to; clock++) delivered(author, clock, at, by)
      }
    },
  }
  const rooms: BenchClient[][] = []
  const connectStarted = performance.now()
  for (let r = 0; r < spec.rooms; r++) {
    const room: BenchClient[] = []
    for (let c = 0; c < spec.clientsPerRoom; c++) {
      const writer = c < spec.writersPerRoom
      room.push(
        new BenchClient({
          url: spec.url,
          room: `room-${r}`,
          apply: writer || spec.presentApply,
          ledger,
          hocuspocus: spec.hocuspocus,
        }),
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
    const total = { messages: 0, bytes: 0 }
    for (const c of all) {
      total.messages += c.messagesIn
      total.bytes += c.bytesIn
    }
    return total
  }
  let edits = 0
  const timers: NodeJS.Timeout[] = []
  const typingEnds = performance.now() + spec.warmupMs + spec.durationMs
  if (!spec.idle) {
    for (const room of rooms) {
      room.forEach((client, index) => {
        const writer = index < spec.writersPerRoom
        const tick = () => {
          if (performance.now() >= typingEnds) return
          if (writer) {
            client.type('abc'.slice(0, 1 + Math.floor(Math.random() * 3)))
            if (measuring) edits++
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
  if (spec.warmupMs > 0) await sleep(spec.warmupMs)
  send({ type: 'measuring' })
  const before = counters()
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  measuring = true
  await sleep(spec.durationMs)
  for (const timer of timers) clearTimeout(timer)
  const inWindow = counters()
  const loadCpu = process.cpuUsage(cpu0)
  const window = {
    seconds: (performance.now() - started) / 1000,
    deliveredUpdates: latencies.length,
    messagesToClients: inWindow.messages - before.messages,
    bytesToClients: inWindow.bytes - before.bytes,
    loadCpuSeconds: (loadCpu.user + loadCpu.system) / 1e6,
  }
  send({ type: 'window' })

  // Converged: the writers of a room hold the same document, and every present client received every edit.
  const converged = (room: BenchClient[]) => {
    const writers = room.slice(0, spec.writersPerRoom)
    const text = writers[0]?.doc.getText('t').toString()
    if (!writers.every((w) => w.doc.getText('t').toString() === text)) return false
    const edits = writers.reduce((sum, w) => sum + (editsOut.get(w) ?? 0), 0)
    return room.slice(spec.writersPerRoom).every((p) => (editsIn.get(p) ?? 0) >= edits)
  }
  const settleBy = performance.now() + spec.settleTimeoutMs
  let convergedRooms = 0
  while (performance.now() < settleBy) {
    convergedRooms = rooms.filter(converged).length
    if (convergedRooms === rooms.length) break
    await sleep(100)
  }
  measuring = false
  send({ type: 'done' })
  const result: LoadResult = {
    clients: all.length,
    connectMs,
    edits,
    latencyMs: { ...percentiles(latencies), samples: latencies.length },
    latencies: Float64Array.from(latencies),
    // Every edit delivered since the window began has its latency sample.
    deliveredUpdates: latencies.length,
    window,
    convergedRooms,
    rooms: rooms.length,
  }
  for (const client of all) client.close()
  // Exits only once the result, samples and all (larger than a pipe's buffer), has been written.
  await new Promise<void>((resolve) => process.send?.({ type: 'result', result }, () => resolve()))
}

const first = await next()
if (first.type !== 'spec') throw new Error('loadgen: expected a spec first')
await run(first.spec)
process.exit(0)
