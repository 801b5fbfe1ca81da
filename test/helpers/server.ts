import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { createServer, type ServerOptions, type TandemServer } from '../../server/index.js'

export interface RunningServer {
  readonly server: TandemServer
  readonly port: number
  readonly url: string
  readonly dataDir: string
  /** Closes the server (the data directory stays until `cleanup`). */
  stop(): Promise<void>
  /** Starts a new server on the same data directory (and the same port, so clients reconnect). */
  restart(options?: ServerOptions): Promise<RunningServer>
  /** Closes the server and removes the data directory. */
  cleanup(): Promise<void>
}

/** Makes a fresh temporary data directory. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tandem-test-'))
}

/** Starts a real server on 127.0.0.1 with a LevelDB store in `dataDir` (a new temp dir by default). */
export async function startServer(options: ServerOptions = {}, dataDir?: string): Promise<RunningServer> {
  const dir = dataDir ?? (await tempDataDir())
  const server = createServer({ port: 0, host: '127.0.0.1', dataDir: dir, logLevel: 'silent', ...options })
  const { port } = await server.listen()
  const running: RunningServer = {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    dataDir: dir,
    stop: () => server.close(),
    restart: async (more = {}) => {
      await server.close()
      return startServer({ ...options, port, ...more }, dir)
    },
    cleanup: async () => {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
  return running
}

/**
 * Fresh temporary directories for the tests of a file or suite (data directories of stores of
 * their own, working directories, outputs), each removed after the test that made it. Call it
 * before registering the `afterEach` that stops what uses them (servers, processes): vitest runs
 * after-hooks in reverse order, so those stop first.
 */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
  })
  return async () => {
    const dir = await tempDataDir()
    dirs.push(dir)
    return dir
  }
}
