import { afterEach, beforeEach } from 'vitest'
import type { ServerOptions } from '../../server/index.js'
import { type Client, type ClientOptions, connectClient } from './clients.js'
import { type RunningServer, startServer, tempDataDir } from './server.js'

/**
 * The options of each test's server: the same for every test, or made for each start from the
 * test's fresh data directory (to put a store of the test's own on it, or files to serve).
 */
export type FixtureOptions = ServerOptions | ((dataDir: string) => ServerOptions | Promise<ServerOptions>)

export interface ServerFixture {
  /** The server of the running test (the new one after `restart`). */
  readonly running: RunningServer
  /** A stock client of the running test's server; destroyed after the test. */
  client(room: string, options?: ClientOptions): Client
  /**
   * Closes the test's server and starts it again on the same port and data directory (options
   * made afresh when they are a function, so a store of the test's own is opened again), with
   * `more` on top. Clients reconnect to the new one; it is cleaned up after the test.
   */
  restart(more?: ServerOptions): Promise<RunningServer>
}

/** Gives every test of the file its own server (temp data dir) and cleans up its clients and server. */
export function useServer(options: FixtureOptions = {}): ServerFixture {
  const optionsFor = async (dataDir: string) =>
    typeof options === 'function' ? await options(dataDir) : options
  let running: RunningServer | null = null
  const clients: Client[] = []
  beforeEach(async () => {
    const dataDir = await tempDataDir()
    running = await startServer(await optionsFor(dataDir), dataDir)
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy()
    await running?.cleanup()
    running = null
  })
  const fixture: ServerFixture = {
    get running() {
      if (!running) throw new Error('no server outside a test')
      return running
    },
    client(room, clientOptions) {
      const c = connectClient(fixture.running.url, room, clientOptions)
      clients.push(c)
      return c
    },
    async restart(more = {}) {
      const { port, dataDir } = fixture.running
      await fixture.running.stop()
      // The stopped server needs no cleanup of its own: the new one closes and removes the same
      // data directory.
      running = await startServer({ ...(await optionsFor(dataDir)), port, ...more }, dataDir)
      return running
    },
  }
  return fixture
}
