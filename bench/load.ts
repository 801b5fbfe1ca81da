/**
 * Runs one load (a loadgen child process) against one freshly started target and measures the
 * target from outside: CPU seconds during the load window, resident memory, peak memory.
 */
import { fork } from 'node:child_process'
import type { LoadResult, LoadSpec } from './loadgen.js'
import { type ProcessUnderTest, removeDataDir, startTarget, type Target } from './proc.js'

export interface Measured extends LoadResult {
  readonly target: Target
  /** Server CPU from the window's start until settled, and within the window alone. */
  readonly serverCpuSeconds: number
  readonly serverCpuWindowSeconds: number
  /** Server memory before the clients connected and once they all had. */
  readonly serverRssIdleBytes: number
  readonly serverRssConnectedBytes: number
  readonly serverPeakRssBytes: number
}

type FromLoadgen =
  | { readonly type: 'connected' }
  | { readonly type: 'measuring' }
  | { readonly type: 'window' }
  | { readonly type: 'done' }
  | { readonly type: 'result'; readonly result: LoadResult }

/** `build`: for Tandem, another checkout whose built server to measure (see StartOptions). */
export async function measureLoad(
  target: Target,
  spec: Omit<LoadSpec, 'url' | 'expectServerSync' | 'hocuspocus'>,
  build?: string,
): Promise<Measured> {
  const server = await startTarget(target, { build })
  try {
    return await drive(server, {
      ...spec,
      url: server.url,
      // The relay has no state of its own to sync from.
      expectServerSync: target !== 'relay',
      hocuspocus: target === 'hocuspocus',
    })
  } finally {
    await server.stop()
    removeDataDir(server.dataDir)
  }
}

/** The load's phases as the parent hears them: clients synced, warm-up over, window over, settled. */
export type LoadPhase = 'connected' | 'measuring' | 'window' | 'done'

/**
 * Runs one load against a target already started (and left running); `onPhase` hears each phase
 * as it begins, after the target's CPU was read for it.
 */
export function drive(
  server: ProcessUnderTest,
  spec: LoadSpec,
  onPhase: (phase: LoadPhase) => void = () => undefined,
): Promise<Measured> {
  // 'advanced': the result's latency samples cross as a typed array, not as JSON.
  const child = fork('dist/bench/loadgen.js', [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
  const rssIdle = server.rssBytes()
  let rssConnected = 0
  let cpuStart = 0
  let cpuWindowEnd = 0
  let cpuEnd = 0
  return new Promise((resolve, reject) => {
    // A hard bound on the whole load, whatever happens in the child.
    const deadline = setTimeout(
      () => {
        child.kill('SIGKILL')
        reject(new Error(`load against ${server.target} did not finish in time`))
      },
      spec.warmupMs + spec.durationMs + spec.settleTimeoutMs + 180_000,
    )
    child.on('message', (message: FromLoadgen) => {
      if (message.type === 'connected') {
        rssConnected = server.rssBytes()
        onPhase('connected')
        child.send({ type: 'go' })
      } else if (message.type === 'measuring') {
        cpuStart = server.cpuSeconds()
        onPhase('measuring')
      } else if (message.type === 'window') {
        cpuWindowEnd = server.cpuSeconds()
        onPhase('window')
      } else if (message.type === 'done') {
        cpuEnd = server.cpuSeconds()
        onPhase('done')
      } else {
        clearTimeout(deadline)
        resolve({
          ...message.result,
          target: server.target,
          serverCpuSeconds: cpuEnd - cpuStart,
          serverCpuWindowSeconds: cpuWindowEnd - cpuStart,
          serverRssIdleBytes: rssIdle,
          serverRssConnectedBytes: rssConnected,
          serverPeakRssBytes: server.peakRssBytes(),
        })
      }
    })
    child.once('exit', (code) => {
      if (code !== 0) {
        clearTimeout(deadline)
        reject(new Error(`loadgen exited with ${code}`))
      }
    })
    child.send({ type: 'spec', spec })
  })
}
