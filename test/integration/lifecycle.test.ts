import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { type Client, connectClient, waitForDoc } from '../helpers/clients.js'
import { runCli, type ServerProcess, startProcess, stopProcess } from '../helpers/process.js'
import { useTempDirs } from '../helpers/server.js'

const processes: ServerProcess[] = []
const clients: Client[] = []
const start = async (args: string[], env?: NodeJS.ProcessEnv) => {
  const server = await startProcess(args, env)
  processes.push(server)
  return server
}
const client = (server: ServerProcess, room = 'life') => {
  const c = connectClient(server.url, room)
  clients.push(c)
  return c
}
const text = (c: Client) => c.doc.getText('t').toString()
/** The close code the client's socket gets, once it gets one. */
const closeCode = (c: Client) =>
  new Promise<number>((resolve) =>
    (c.provider.ws as unknown as WebSocket).once('close', (code: number) => resolve(code)),
  )

const tempDir = useTempDirs()

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const p of processes.splice(0)) await stopProcess(p, 'SIGKILL')
})

describe('the tandem command', () => {
  it('prints usage for --help and exits 0', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: tandem [options]')
    expect(stdout).toContain('--data-dir')
  })

  it.each([
    [['--bogus'], "tandem: Unknown option '--bogus'"],
    [['--port', 'abc'], 'tandem: --port must be a whole number, got "abc"'],
    [['--port', '70000'], 'tandem: --port: port must be an integer from 0 to 65535, got 70000'],
    [['--log-level', 'loud'], 'tandem: --log-level must be one of'],
  ])('refuses %j with exit 2, naming the flag, without a stack trace', async (args, message) => {
    const { code, stderr } = await runCli(args)
    expect(code).toBe(2)
    expect(stderr).toContain(message)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('names --data-dir when the directory cannot be created', async () => {
    const dir = await tempDir()
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a directory')
    const { code, stderr } = await runCli(['--port', '0', '--data-dir', join(file, 'data')])
    expect(code).toBe(1)
    expect(stderr).toMatch(/^tandem: --data-dir: cannot create data directory .*a-file\/data/)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it('reads PORT and DATA_DIR from the environment, and flags win', async () => {
    const envDir = await tempDir()
    const flagDir = await tempDir()
    const fromEnv = await start([], { PORT: '0', DATA_DIR: envDir })
    expect(existsSync(join(envDir, 'CURRENT'))).toBe(true)
    await stopProcess(fromEnv)
    // An invalid PORT in the environment does not matter when --port is given.
    await start(['--port', '0', '--data-dir', flagDir], { PORT: 'not-a-port', DATA_DIR: envDir })
    expect(existsSync(join(flagDir, 'CURRENT'))).toBe(true)
    const { code, stderr } = await runCli([], { PORT: 'x' })
    expect(code).toBe(2)
    expect(stderr).toContain('--port must be a whole number, got "x"')
  })

  it('refuses a second server on the same data directory, and the first keeps serving', async () => {
    const dataDir = await tempDir()
    const first = await start(['--data-dir', dataDir])
    const { code, stderr } = await runCli(['--port', '0', '--data-dir', dataDir])
    expect(code).toBe(1)
    expect(stderr).toBe(
      `tandem: --data-dir: data directory ${dataDir} is in use by another Tandem process (LevelDB lock held)\n`,
    )
    const a = client(first)
    await a.synced()
    a.doc.getText('t').insert(0, 'still up')
    const b = client(first)
    await waitForDoc(b.doc, () => text(b) === 'still up')
  })

  it('serves /healthz, /metrics and 404 over plain HTTP', async () => {
    const server = await start(['--data-dir', await tempDir()])
    const base = `http://127.0.0.1:${server.port}`
    const health = await fetch(`${base}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ ok: true, status: 'ok', rooms: 0, connections: 0 })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    for (const name of ['tandem_connections', 'tandem_rooms_loaded', 'tandem_messages_received_total']) {
      expect(metrics).toContain(name)
    }
    expect((await fetch(`${base}/nope`)).status).toBe(404)
  })

  for (const [signal, expected] of [
    ['SIGTERM', 1001],
    ['SIGINT', 1001],
    ['SIGUSR2', 1012],
  ] as const) {
    it(`on ${signal} closes sockets with ${expected}, exits 0, and keeps the content`, async () => {
      const dataDir = await tempDir()
      const server = await start(['--data-dir', dataDir])
      const a = client(server)
      await a.synced()
      a.doc.getText('t').insert(0, `before ${signal}`)
      const b = client(server)
      await waitForDoc(b.doc, () => text(b) === `before ${signal}`)
      const closed = closeCode(b)
      server.child.kill(signal)
      expect(await closed).toBe(expected)
      expect(await server.exited).toBe(0)
      a.destroy()
      b.destroy()
      const again = await start(['--data-dir', dataDir])
      const c = client(again)
      await c.synced()
      expect(text(c)).toBe(`before ${signal}`)
    })
  }

  it('ignores a second signal during shutdown and loses nothing', async () => {
    const dataDir = await tempDir()
    const server = await start(['--data-dir', dataDir])
    const writers = Array.from({ length: 5 }, (_, i) => client(server, `room${i}`))
    await Promise.all(writers.map((w) => w.synced()))
    writers.forEach((w, i) => {
      for (let j = 0; j < 50; j++) w.doc.getText('t').insert(0, `${i}`)
    })
    const readers = writers.map((_, i) => client(server, `room${i}`))
    await Promise.all(readers.map((r) => waitForDoc(r.doc, () => text(r).length === 50)))
    server.child.kill('SIGTERM')
    server.child.kill('SIGINT')
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain('already shutting down')
    for (const c of clients.splice(0)) c.destroy()
    const again = await start(['--data-dir', dataDir])
    const checks = writers.map((_, i) => client(again, `room${i}`))
    await Promise.all(checks.map((c) => c.synced()))
    expect(checks.map(text)).toEqual(writers.map((_, i) => `${i}`.repeat(50)))
  })
})
