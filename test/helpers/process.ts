import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

/** The compiled CLI, as users run it (`npm test` builds it first). */
export const CLI = 'dist/server/main.js'

export interface ServerProcess {
  readonly child: ChildProcess
  /** The port the server bound (from its "listening" log line). */
  readonly port: number
  readonly url: string
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>
  /** Everything the process printed so far. */
  output(): string
}

/** The compiled token command (`npm run token`). */
export const TOKEN_CLI = 'dist/server/token.js'

/** Runs a CLI (the server's by default) to completion (for bad flags, --help …). */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  entry = CLI,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [entry, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

/**
 * Starts the CLI as a real child process (on port 0 unless `args` or `env` say otherwise) and
 * resolves once it listens. Rejects with its output if
 * it exits first. The caller kills it (see `stopProcess`).
 */
export async function startProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  // Port 0 unless the test chooses (by flag or by PORT).
  const portFlag = args.includes('--port') || env.PORT !== undefined ? [] : ['--port', '0']
  const child = spawn(process.execPath, [CLI, ...portFlag, '--log-level', 'info', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stderr?.on('data', (d) => {
    output += d
  })
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  )
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      output += `${line}\n`
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number }
        if (entry.msg === 'listening' && typeof entry.port === 'number') resolve(entry.port)
      } catch {
        // not a log line
      }
    })
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)))
  })
  return { child, port, url: `ws://127.0.0.1:${port}`, exited, output: () => output }
}

/** Sends `signal` (SIGTERM by default) and waits for the exit. Safe on an exited process. */
export async function stopProcess(
  server: ServerProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal)
  return server.exited
}
