import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { assertBuilt, distPath, inDist } from './built.js'
import { until } from './wait.js'

/**
 * The compiled CLI, as users run it (`npm test` builds it first), from any working directory.
 * `runCli` and `startProcess` refuse to run it from a dist/ older than the sources; a test that
 * spawns it itself calls `assertBuilt()` first.
 */
export const CLI = distPath('server/main.js')

export interface ServerProcess {
  readonly child: ChildProcess
  /** The port the server bound (from its "listening" log line). */
  readonly port: number
  readonly url: string
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>
  /** Everything the process printed so far. */
  output(): string
  /** Sends `signal` to the server (to its whole group when started with `group`). */
  kill(signal: NodeJS.Signals): void
}

/** Runs a CLI (the server's by default) to completion (for bad flags, --help …). */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  entry = CLI,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (inDist(entry)) assertBuilt()
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

/** How to start the server: the repository's compiled CLI by default. */
export interface StartOptions {
  /** The command and its first arguments (default: node and the compiled CLI). */
  readonly command?: readonly [string, ...string[]]
  /** The working directory (default: this process's). */
  readonly cwd?: string
  /**
   * Start it in a process group of its own and signal the whole group: for a command that runs
   * the server as its child (`npm exec`), which would not pass a signal on.
   */
  readonly group?: boolean
}

/**
 * Starts the CLI as a real child process (on port 0 unless `args` or `env` say otherwise) and
 * resolves once it listens. Rejects with its output if
 * it exits first. The caller kills it (see `stopProcess`).
 */
export async function startProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): Promise<ServerProcess> {
  // Port 0 unless the test chooses (by flag or by PORT).
  const portFlag = args.includes('--port') || env.PORT !== undefined ? [] : ['--port', '0']
  const [command, ...first] = options.command ?? [process.execPath, CLI]
  if ([command, ...first].some(inDist)) assertBuilt()
  const child = spawn(command, [...first, ...portFlag, '--log-level', 'info', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: options.cwd,
    detached: options.group === true,
  })
  let output = ''
  child.stderr?.on('data', (d) => {
    output += d
  })
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  ).then(async (code) => {
    // A group's leader (npm exec) may exit before the server it started has finished closing.
    if (options.group && child.pid !== undefined)
      await until(() => !groupAlive(child.pid as number), 30_000, 'the process group to exit')
    return code
  })
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
  const kill = (signal: NodeJS.Signals) =>
    options.group && child.pid !== undefined ? process.kill(-child.pid, signal) : child.kill(signal)
  return { child, port, url: `ws://127.0.0.1:${port}`, exited, output: () => output, kill }
}

/** Sends `signal` (SIGTERM by default) and waits for the exit. Safe on an exited process. */
export async function stopProcess(
  server: ServerProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.kill(signal)
  return server.exited
}

/** Whether any process of group `pgid` is still running. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}
