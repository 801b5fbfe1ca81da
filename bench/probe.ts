/**
 * Loaded into the server under test (`node --expose-gc --import dist/bench/probe.js …`, see
 * proc.ts `probe`), never imported by the bench itself: answers the bench over the child's IPC
 * channel with the event loop's busy time and longest delay since the previous question, and with
 * memory after a forced full GC. The server knows nothing of it; it only reads what Node measures.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { LoopStats, MemoryStats, ProbeReply, ProbeRequest } from './probe-link.js'
import { statusKb } from './proc-status.js'

// 10 ms resolution: a timer every 10 ms costs nothing next to the server's own work.
const delay = monitorEventLoopDelay({ resolution: 10 })
delay.enable()
let since = performance.eventLoopUtilization()

function loop(): LoopStats {
  const now = performance.eventLoopUtilization()
  const span = performance.eventLoopUtilization(now, since)
  since = now
  const stats = {
    activeMs: span.active,
    idleMs: span.idle,
    maxDelayMs: delay.count > 0 ? delay.max / 1e6 : 0,
    p99DelayMs: delay.count > 0 ? delay.percentile(99) / 1e6 : 0,
  }
  delay.reset()
  return stats
}

function memory(collect: boolean): MemoryStats {
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined
  // Twice: the first full GC runs finalizers (ws, leveldown buffers) whose memory the second frees.
  gc?.()
  gc?.()
  const usage = process.memoryUsage()
  return {
    collected: gc !== undefined,
    rssBytes: usage.rss,
    rssAnonBytes: statusKb('self', 'RssAnon') * 1024,
    rssFileBytes: statusKb('self', 'RssFile') * 1024,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
  }
}

process.on('message', (request: ProbeRequest) => {
  const reply: ProbeReply =
    request.kind === 'loop'
      ? { id: request.id, loop: loop() }
      : { id: request.id, memory: memory(request.kind === 'memory') }
  process.send?.(reply)
})
// The server decides when it exits, not the bench's channel.
process.channel?.unref()
