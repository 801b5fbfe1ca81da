import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { tempDataDir } from './server.js'
import { until } from './wait.js'

/** Debian's nginx: tests that need it install nothing themselves (.ci/run does). */
export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx'

/**
 * Whether nginx is here. Without it the tests that need it are skipped, loudly; with
 * `TANDEM_REQUIRE_NGINX=1` (set by .ci/run) a missing nginx is an error instead.
 */
export function nginxAvailable(): boolean {
  if (existsSync(NGINX)) return true
  if (process.env.TANDEM_REQUIRE_NGINX === '1') {
    throw new Error(`TANDEM_REQUIRE_NGINX=1 but there is no nginx at ${NGINX} (apt-get install nginx)`)
  }
  console.warn(`\n!!! SKIPPING NGINX TESTS: no nginx at ${NGINX} (apt-get install nginx) !!!\n`)
  return false
}

/** A TCP port free right now on 127.0.0.1 (for programs that cannot be told to pick one). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (!address || typeof address !== 'object') throw new Error('no port')
  return address.port
}

export interface RunningNginx {
  readonly dir: string
  /** `nginx -t` on the same configuration: its output, for a failure message. */
  check(): Promise<string>
  stop(): Promise<void>
}

/**
 * Runs nginx in the foreground with `site` (the text of a file for its `http` block, like one in
 * sites-enabled) in a new temporary prefix, and resolves once every port in `ports` accepts.
 */
export async function startNginx(site: string, ports: readonly number[]): Promise<RunningNginx> {
  const dir = await tempDataDir()
  for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, temp))
  await writeFile(join(dir, 'site.conf'), site)
  const config = join(dir, 'nginx.conf')
  await writeFile(
    config,
    [
      // As root, nginx's workers would switch to an account that cannot read this directory.
      process.getuid?.() === 0 ? 'user root;' : '',
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (temp) => `  ${temp === 'body' ? 'client_body' : temp}_temp_path ${join(dir, temp)};`,
      ),
      `  include ${join(dir, 'site.conf')};`,
      '}',
      '',
    ].join('\n'),
  )
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', config]
  const child: ChildProcess = spawn(NGINX, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const accepts = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
  try {
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
        return (await Promise.all(ports.map(accepts))).every(Boolean)
      },
      10_000,
      'nginx to listen',
    )
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  return {
    dir,
    check: async () => {
      const { stderr: out } = await promisify(execFile)(NGINX, [...args, '-t'])
      return out
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}
