import { afterEach, beforeEach } from 'vitest'
import type { ServerOptions } from '../../server/index.js'
import { type Client, type ClientOptions, connectClient } from './clients.js'
import { type RunningServer, startServer } from './server.js'

export interface ServerFixture {
  /** The server of the running test. */
  readonly running: RunningServer
  /** A stock client of the running test's server; destroyed after the test. */
  client(room: string, options?: ClientOptions): Client
}

/** Gives every test of the file its own server (temp data dir) and cleans up its clients and server. */
export function useServer(options: ServerOptions = {}): ServerFixture {
  let running: RunningServer | null = null
  const clients: Client[] = []
  beforeEach(async () => {
    running = await startServer(options)
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
  }
  return fixture
}
