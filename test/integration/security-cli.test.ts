import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { jwtAuthenticator } from '../../server/auth.js'
import { type Client, connectClient, waitForDoc } from '../helpers/clients.js'
import { runCli, type ServerProcess, startProcess, stopProcess } from '../helpers/process.js'
import { useTempDirs } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const SECRET = 'cli-secret-that-is-long-enough-for-hs256!'
const processes: ServerProcess[] = []
const clients: Client[] = []

const tempDir = useTempDirs()

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const p of processes.splice(0)) await stopProcess(p, 'SIGKILL')
})

const mint = async (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['token', ...args], env)

describe('npm run token', () => {
  it('prints a token the server accepts, with the claims asked for', async () => {
    const { code, stdout } = await mint(['--docs', 'team/*', '--mode', 'ro', '--ttl', '1h', '--sub', 'ada'], {
      AUTH_SECRET: SECRET,
    })
    expect(code).toBe(0)
    const access = await jwtAuthenticator({ secret: SECRET })({
      room: 'team/plans',
      token: stdout.trim(),
      headers: {},
      remoteAddress: undefined,
    })
    expect(access.user.id).toBe('ada')
    expect(access.mode).toBe('ro')
    expect((access.expiresAt ?? 0) - Date.now()).toBeGreaterThan(3_500_000)
  })

  it.each([
    [['--docs', 'x'], {}, '--secret (or AUTH_SECRET) is required'],
    [['--docs', 'x', '--secret', 'short'], {}, '--secret must be at least 32 characters'],
    [['--secret', SECRET], {}, '--docs is required'],
    [['--secret', SECRET, '--docs', 'x', '--mode', 'admin'], {}, '--mode must be rw or ro, got "admin"'],
    [['--secret', SECRET, '--docs', 'x', '--ttl', 'forever'], {}, '--ttl must be a positive duration'],
    [['--secret', SECRET, '--docs', 'x', '--colour', 'red'], {}, "Unknown option '--colour'"],
  ])('refuses %j with a message naming the flag, exit 2', async (args, env, message) => {
    const { code, stderr } = await mint(args, env)
    expect(code).toBe(2)
    expect(stderr).toContain(message)
  })
})

describe('the server’s security flags', () => {
  it.each([
    [['--auth-secret', 'short'], '--auth-secret: authSecret must be at least 32 characters'],
    [['--tls-cert', 'package.json'], '--tls-key is needed too'],
    [['--auth-public-key', '/nonexistent.pem'], '--auth-public-key: cannot read /nonexistent.pem: ENOENT'],
    [['--auth-public-key', 'package.json'], '--auth-public-key: authPublicKey is not a PEM public key'],
    [['--allowed-origins', 'not an origin'], '--allowed-origins: allowedOrigins must be a list of origins'],
    [['--max-rooms', 'lots'], '--max-rooms must be a whole number, got "lots"'],
  ])('refuses %j naming the flag, exit 2', async (args, message) => {
    const { code, stderr } = await runCli(['--data-dir', await tempDir(), ...args])
    expect(code).toBe(2)
    expect(stderr).toContain(message)
  })

  it('turns auth on from AUTH_SECRET: tokens from npm run token get in, others get 4401', async () => {
    const server = await startProcess(['--data-dir', await tempDir()], { AUTH_SECRET: SECRET })
    processes.push(server)
    const token = (await mint(['--docs', 'notes', '--mode', 'rw'], { AUTH_SECRET: SECRET })).stdout.trim()
    const a = connectClient(server.url, 'notes', { params: { token } })
    const b = connectClient(server.url, 'notes', { params: { token } })
    const stranger = connectClient(server.url, 'notes')
    clients.push(a, b, stranger)
    const refused = new Promise((resolve) => (stranger.provider as WebsocketProvider).once('closed', resolve))
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'with a token')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'with a token')
    expect(await refused).toEqual({ code: 4401, reason: 'a token is required' })
  })

  it('warns when it listens beyond loopback without auth', async () => {
    const server = await startProcess(['--data-dir', await tempDir(), '--host', '0.0.0.0'])
    processes.push(server)
    await until(() => server.output().includes('auth is off and the server listens beyond loopback'))
    expect(server.output()).toContain('"level":40')
  })

  it('reads a public key file for RS256/ES256 tokens', async () => {
    const dir = await tempDir()
    const { generateKeyPair, exportSPKI } = await import('jose')
    const { publicKey } = await generateKeyPair('ES256', { extractable: true })
    await writeFile(join(dir, 'key.pem'), await exportSPKI(publicKey))
    const server = await startProcess(['--data-dir', dir, '--auth-public-key', join(dir, 'key.pem')])
    processes.push(server)
    const c = connectClient(server.url, 'x')
    clients.push(c)
    const closed = await new Promise((resolve) => (c.provider as WebsocketProvider).once('closed', resolve))
    expect(closed).toEqual({ code: 4401, reason: 'a token is required' })
  })
})
