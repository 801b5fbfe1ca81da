/**
 * The bench's side of bench/probe.ts (the agent loaded into the server under test): what it can be
 * asked and what it answers, over the child process's IPC channel.
 */
import type { ChildProcess } from 'node:child_process'

/** The server's event loop between two questions. */
export interface LoopStats {
  /** Time the loop spent running callbacks, and waiting for I/O. */
  readonly activeMs: number
  readonly idleMs: number
  /** Longest and p99 delay of a 10 ms timer: how long one piece of work held the loop. */
  readonly maxDelayMs: number
  readonly p99DelayMs: number
}

/**
 * `process.memoryUsage()`, right after two forced full GCs (`collected`: false without
 * `--expose-gc`, or when asked to `peek`).
 */
export interface MemoryStats {
  readonly collected: boolean
  readonly rssBytes: number
  /** RSS split as Linux counts it (`/proc/self/status`): anonymous memory, and mapped files' pages. */
  readonly rssAnonBytes: number
  readonly rssFileBytes: number
  readonly heapUsedBytes: number
  readonly heapTotalBytes: number
  readonly externalBytes: number
  readonly arrayBuffersBytes: number
}

export type ProbeRequest = { readonly id: number; readonly kind: 'loop' | 'memory' | 'peek' }
export type ProbeReply =
  | { readonly id: number; readonly loop: LoopStats }
  | { readonly id: number; readonly memory: MemoryStats }

export interface Probe {
  /** Event-loop figures since the previous call (or the start), then starts a new span. */
  loop(): Promise<LoopStats>
  /** Forces a full GC in the server, then reads its memory. */
  memory(): Promise<MemoryStats>
  /** Reads the server's memory as it is, without a GC. */
  peek(): Promise<MemoryStats>
}

/** Each answer waits for the server's event loop: a busy server answers late, never wrongly. */
const REPLY_TIMEOUT_MS = 30_000

export function probeOf(child: ChildProcess): Probe {
  let nextId = 0
  const waiting = new Map<number, (reply: ProbeReply) => void>()
  child.on('message', (reply: ProbeReply) => {
    waiting.get(reply.id)?.(reply)
    waiting.delete(reply.id)
  })
  const ask = (kind: ProbeRequest['kind']) =>
    new Promise<ProbeReply>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(new Error(`the server's probe did not answer ${kind} within ${REPLY_TIMEOUT_MS} ms`))
      }, REPLY_TIMEOUT_MS)
      waiting.set(id, (reply) => {
        clearTimeout(timer)
        resolve(reply)
      })
      child.send({ id, kind } satisfies ProbeRequest)
    })
  const memory = async (kind: 'memory' | 'peek') => {
    const reply = await ask(kind)
    if (!('memory' in reply)) throw new Error(`the probe answered ${kind} with something else`)
    return reply.memory
  }
  return {
    loop: async () => {
      const reply = await ask('loop')
      if (!('loop' in reply)) throw new Error('the probe answered loop with something else')
      return reply.loop
    },
    memory: () => memory('memory'),
    peek: () => memory('peek'),
  }
}
