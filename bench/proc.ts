/**
 * Processes under test: the Tandem server (the built CLI), the baseline relay, or a peer to
 * compare with (Hocuspocus), each a child process on a port of its own, measured from the outside
 * through /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type Probe, probeOf } from './probe-link.js'
import { statusKb } from './proc-status.js'

export type Target = 'relay' | 'tandem' | 'hocuspocus'

export interface ProcessUnderTest {
  readonly target: Target
  readonly pid: number
  readonly url: string
  readonly dataDir: string | null
  /** The agent inside the process (event loop, forced GC), when started with `probe`. */
  readonly probe: Probe | null
  /** User + system CPU seconds the process has used so far. */
  cpuSeconds(): number
  /** Resident memory now, and its peak so far, in bytes. */
  rssBytes(): number
  peakRssBytes(): number
  /** Stops it (SIGTERM, or SIGKILL to simulate a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

const CLOCK_TICKS_PER_SECOND = 100

export interface StartOptions {
  readonly dataDir?: string
  readonly fsync?: boolean
  /**
   * Loads bench/probe.js into the process (`--import`, with `--expose-gc`) and talks to it over an
   * IPC channel: its event loop's busy time and longest block, its memory after a forced GC.
   */
  readonly probe?: boolean
  /** More command-line arguments for the target, after its own (e.g. `--redis-url`). */
  readonly args?: readonly string[]
  /** Tandem: the checkout whose built server runs (its `dist/`), instead of this one. */
  readonly build?: string
}

const PROBE_PATH = fileURLToPath(new URL('./probe.js', import.meta.url))

/** Starts `target`; a server that stores gets a fresh data directory unless `dataDir` is given. */
export async function startTarget(target: Target, options: StartOptions = {}): Promise<ProcessUnderTest> {
  const dataDir =
    target === 'relay' ? null : (options.dataDir ?? mkdtempSync(join(tmpdir(), `${target}-bench-`)))
  const args = [...command(target, dataDir, options.fsync === true, options.build), ...(options.args ?? [])]
  // e.g. TANDEM_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" to profile the target.
  const nodeArgs = process.env.TANDEM_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  if (options.probe) nodeArgs.push('--expose-gc', '--import', PROBE_PATH)
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    // Every target as Tandem ships (npm start, deploy/tandem.service): README, "Memory".
    env: {
      ...process.env,
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '262144',
    },
    stdio: options.probe ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
  })
  const port = await listeningPort(child)
  const pid = child.pid as number
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    target,
    pid,
    url: `ws://127.0.0.1:${port}`,
    dataDir,
    probe: options.probe ? probeOf(child) : null,
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
    },
    rssBytes: () => statusKb(pid, 'VmRSS') * 1024,
    peakRssBytes: () => statusKb(pid, 'VmHWM') * 1024,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

function command(target: Target, dataDir: string | null, fsync: boolean, build = ''): string[] {
  switch (target) {
    case 'relay':
      return ['dist/bench/relay.js']
    case 'hocuspocus':
      return ['dist/bench/hocuspocus.js', dataDir as string]
    case 'tandem':
      return [
        join(build, 'dist/server/main.js'),
        '--port',
        '0',
        '--data-dir',
        dataDir as string,
        '--static-dir',
        '',
        '--log-level',
        'info',
        // The load comes from one address and floods on purpose: lift the per-client limits.
        '--max-connections-per-ip',
        '0',
        '--max-connections-per-room',
        '0',
        '--max-rooms',
        '0',
        '--max-messages-per-second',
        '0',
        '--max-bytes-per-second',
        '0',
        ...(fsync ? ['--fsync'] : []),
      ]
  }
}

export function removeDataDir(dir: string | null): void {
  if (dir) rmSync(dir, { recursive: true, force: true })
}

/** Both print one JSON line with `port` once they listen. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const timer = setTimeout(() => reject(new Error('process did not start within 10 s')), 10_000)
    lines.on('line', (line) => {
      try {
        const port = (JSON.parse(line) as { port?: unknown }).port
        if (typeof port === 'number' && port > 0) {
          clearTimeout(timer)
          resolve(port)
        }
      } catch {}
    })
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before listening`)))
  })
}

/**
 * redis-server's arguments for a throwaway instance on 127.0.0.1: in `dir`, no snapshots, the
 * append-only file on with `appendfsync`, in the foreground, quiet. (The tests' Redis too.)
 */
export function redisServerArgs(port: number, dir: string, appendfsync: string): string[] {
  return [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
    ...['--appendonly', 'yes', '--appendfsync', appendfsync, '--daemonize', 'no'],
    ...['--logfile', '', '--loglevel', 'warning'],
  ]
}
