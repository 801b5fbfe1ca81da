import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { redisServerArgs } from '../../bench/proc.js'
import { freePort } from './nginx.js'
import { tempDataDir } from './server.js'
import { until } from './wait.js'

/** Debian's redis-server: tests that need it install nothing themselves (.ci/run does). */
export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server'

/**
 * Whether redis-server is here. Without it the tests that need it are skipped, loudly; with
 * `TANDEM_REQUIRE_REDIS=1` (set by .ci/run) a missing redis-server is an error instead.
 */
export function redisAvailable(): boolean {
  if (existsSync(REDIS_SERVER)) return true
  if (process.env.TANDEM_REQUIRE_REDIS === '1') {
    throw new Error(
      `TANDEM_REQUIRE_REDIS=1 but there is no redis-server at ${REDIS_SERVER} (apt-get install redis-server)`,
    )
  }
  console.warn(
    `\n!!! SKIPPING REDIS TESTS: no redis-server at ${REDIS_SERVER} (apt-get install redis-server) !!!\n`,
  )
  return false
}

export interface RedisOptions {
  /** `always` (the default: every acknowledged write is on disk), `everysec` or `no`. */
  readonly appendfsync?: 'always' | 'everysec' | 'no'
}

export interface RunningRedis {
  readonly port: number
  /** Its working directory (the AOF is in `appendonlydir/`). */
  readonly dir: string
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string
  /** Whether the server is running (between `start()` and `stop()`). */
  readonly running: boolean
  /** Stops the server (SIGTERM: it finishes its AOF writes; SIGKILL: it just dies) and waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
  /** Starts it again on the same port and directory (after `stop()`), once it answers PING. */
  start(): Promise<void>
  /** Stops it and removes its directory. */
  cleanup(): Promise<void>
}

/**
 * Runs a real redis-server on 127.0.0.1 on a free port, in a new temporary directory, with no RDB
 * snapshots and the append-only file on, and resolves once it answers PING.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const dir = await tempDataDir()
  const appendfsync = options.appendfsync ?? 'always'
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  let port = 0

  const launch = async (): Promise<void> => {
    const args = redisServerArgs(port, dir, appendfsync)
    const spawned = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    spawned.stdout?.on('data', (d) => {
      output += d
    })
    spawned.stderr?.on('data', (d) => {
      output += d
    })
    child = spawned
    exited = new Promise<void>((resolve) => spawned.on('exit', () => resolve()))
    try {
      await until(
        async () => {
          if (spawned.exitCode !== null || spawned.signalCode !== null)
            throw new Error(`redis-server exited: ${output}`)
          return ping(port)
        },
        10_000,
        'redis-server to answer PING',
      )
    } catch (error) {
      spawned.kill('SIGKILL')
      await exited
      child = null
      throw error
    }
  }

  // A free port can be taken before redis-server binds it: try another.
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await launch()
      break
    } catch (error) {
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true })
        throw error
      }
    }
  }

  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    const current = child
    if (!current) return
    if (current.exitCode === null && current.signalCode === null) current.kill(signal)
    await exited
    child = null
  }
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null
    },
    stop,
    start: async () => {
      if (child) throw new Error('redis-server is running already')
      await launch()
    },
    cleanup: async () => {
      await stop('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** True when a server on `port` answers PING with PONG (not while it loads its AOF). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = ''
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on('data', (chunk) => {
      answer += chunk
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
  })
}
