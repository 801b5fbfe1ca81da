/**
 * A Tandem cluster as it is deployed: a real redis-server, nodes that are child processes of the
 * built CLI (each stopped, SIGKILLed and started again on its own port), and a real nginx in front
 * running deploy/nginx-cluster.conf with only its ports changed. `cleanup()` stops everything and
 * removes every temporary directory.
 */
import { readFile, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { assertBuilt, distPath } from './built.js'
import { freePort, type RunningNginx, startNginx } from './nginx.js'
import { type ServerProcess, startProcess, stopProcess } from './process.js'
import { type RunningRedis, startRedis } from './redis.js'
import { tempDataDir } from './server.js'
import { until } from './wait.js'

/** The shipped example site the cluster tests run. */
export const CLUSTER_SITE = fileURLToPath(new URL('../../deploy/nginx-cluster.conf', import.meta.url))

/**
 * The text of the shipped site with its upstream's `server` lines replaced by one per port in
 * `nodePorts` (with the first line's parameters) and its listener moved to 127.0.0.1:`listenPort`.
 * Throws when the file no longer has the lines this substitutes, so a change to it fails loudly.
 */
export function clusterSite(conf: string, listenPort: number, nodePorts: readonly number[]): string {
  const server = /^([ \t]*)server 127\.0\.0\.1:\d+([^;\n]*);[ \t]*$/gm
  const first = server.exec(conf)
  if (!first) throw new Error(`${CLUSTER_SITE}: no "server 127.0.0.1:<port> …;" line in its upstream`)
  const [, indent, params] = first
  let seen = 0
  const withNodes = conf.replace(server, () =>
    seen++ === 0 ? nodePorts.map((port) => `${indent}server 127.0.0.1:${port}${params};`).join('\n') : '',
  )
  if (!/^\s*listen 80;$/m.test(withNodes)) throw new Error(`${CLUSTER_SITE}: no "listen 80;" line`)
  return withNodes
    .replace(/^\s*listen \[::\].*$/gm, '')
    .replace(/listen 80;/, `listen 127.0.0.1:${listenPort};`)
}

export interface ClusterNode {
  readonly index: number
  /** Its `--node-id`. */
  readonly id: string
  readonly port: number
  /** `http://127.0.0.1:<port>`: the node itself, not through nginx. */
  readonly httpUrl: string
  /** Whether its process is running (between `start()` and `stop()`). */
  readonly running: boolean
  /** The running process (throws when stopped). */
  readonly process: ServerProcess
  /** Starts it (again) on its port; resolves once it listens. */
  start(): Promise<void>
  /** Sends `signal` (SIGTERM: a graceful close) and resolves with its exit code or signal. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<number | string>
  /** `/healthz`: its status and body. */
  health(): Promise<{ readonly status: number; readonly body: Record<string, unknown> }>
  /** The value of a metric without labels on `/metrics` (NaN when it has none). */
  metric(name: string): Promise<number>
  /** Everything it printed, over all its runs. */
  output(): string
}

export interface RunningCluster {
  readonly redis: RunningRedis
  readonly nginx: RunningNginx
  readonly nodes: readonly ClusterNode[]
  /** The site nginx runs (deploy/nginx-cluster.conf with the ports substituted). */
  readonly site: string
  /** nginx's port. */
  readonly port: number
  /** `ws://127.0.0.1:<nginx port>`: the WebSocket endpoint through nginx. */
  readonly url: string
  /** `http://127.0.0.1:<nginx port>`. */
  readonly httpUrl: string
  /** Open WebSocket connections of each node (`tandem_connections`; 0 for a stopped node). */
  connections(): Promise<number[]>
  /**
   * Runs `connect` (which opens one connection through nginx and waits until it is synced) and
   * resolves with the index of the node it landed on, from the nodes' connection counts. Nothing
   * else may connect or disconnect meanwhile.
   */
  landing(connect: () => Promise<void>): Promise<number>
  /**
   * Starts whatever was stopped (Redis, nodes) and resolves once every node answers `/healthz`
   * with 200, no WebSocket is open on any node, and nginx hands requests to every node again (it
   * skips a node that failed for the site's fail_timeout): the cluster as it was started.
   */
  restore(): Promise<void>
  /** The last `lines` lines of every node's output, and nginx's error log, for a failure message. */
  logs(lines?: number): Promise<string>
  /** Stops nginx, the nodes and Redis, and removes their directories. Safe to call twice. */
  cleanup(): Promise<void>
}

export interface ClusterOptions {
  /** How many nodes (default 3). */
  readonly nodes?: number
  /** More flags for every node. */
  readonly args?: readonly string[]
}

/**
 * Starts Redis, then nginx in front of `nodes` free ports, then a node on each port (with
 * `--redis-url`, `--trust-proxy` and the built editor), and resolves once all of them listen.
 * On failure whatever was started is stopped again.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<RunningCluster> {
  assertBuilt()
  const count = options.nodes ?? 3
  const cleanups: Array<() => Promise<unknown>> = []
  const cleanup = async () => {
    const errors = []
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step()
      } catch (error) {
        errors.push(error)
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cluster cleanup failed')
  }
  try {
    const redis = await startRedis()
    cleanups.push(() => redis.cleanup())
    // The nodes run in a directory of their own, so nothing they might write lands in the repository.
    const cwd = await tempDataDir()
    cleanups.push(() => rm(cwd, { recursive: true, force: true }))
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()))
    const nodes = ports.map((port, index) => makeNode({ index, port, cwd, redis, args: options.args ?? [] }))
    cleanups.push(() => Promise.all(nodes.map((node) => node.stop('SIGKILL'))))
    const port = await freePort()
    const site = clusterSite(await readFile(CLUSTER_SITE, 'utf8'), port, ports)
    const nginx = await startNginx(site, [port])
    cleanups.push(() => nginx.stop())
    await Promise.all(nodes.map((node) => node.start()))
    const connections = () =>
      Promise.all(nodes.map((node) => (node.running ? node.metric('tandem_connections') : 0)))
    const cluster: RunningCluster = {
      redis,
      nginx,
      nodes,
      site,
      port,
      url: `ws://127.0.0.1:${port}`,
      httpUrl: `http://127.0.0.1:${port}`,
      connections,
      async landing(connect) {
        const before = await connections()
        await connect()
        let after = before
        await until(
          async () => {
            after = await connections()
            return sum(after) === sum(before) + 1
          },
          10_000,
          'the new connection to be counted by a node',
        )
        const landed = after.findIndex((n, i) => n === (before[i] ?? 0) + 1)
        if (landed < 0) throw new Error(`cannot tell which node took the connection: ${before} → ${after}`)
        return landed
      },
      async restore() {
        if (!redis.running) await redis.start()
        await Promise.all(nodes.filter((node) => !node.running).map((node) => node.start()))
        const healthy = async (node: ClusterNode) => (await node.health().catch(() => null))?.status === 200
        await until(
          async () => (await Promise.all(nodes.map(healthy))).every(Boolean),
          20_000,
          'every node to answer /healthz with 200',
        )
        await until(async () => sum(await connections()) === 0, 10_000, 'every WebSocket to be closed')
        const throughNginx = async () => {
          const response = await fetch(`http://127.0.0.1:${port}/healthz`)
          return ((await response.json()) as { node?: unknown }).node
        }
        await until(
          async () => {
            const seen = new Set<unknown>()
            for (let i = 0; i < 2 * nodes.length; i++) seen.add(await throughNginx())
            return nodes.every((node) => seen.has(node.id))
          },
          20_000,
          'nginx to hand requests to every node',
        )
      },
      async logs(lines = 200) {
        const nginxLog = await readFile(`${nginx.dir}/error.log`, 'utf8').catch(() => '(none)')
        const tail = (text: string) => text.split('\n').slice(-lines).join('\n')
        return [
          ...nodes.map(
            (node) => `--- node ${node.index} (${node.id}, port ${node.port})\n${tail(node.output())}`,
          ),
          `--- nginx error.log\n${nginxLog}`,
        ].join('\n')
      },
      cleanup,
    }
    return cluster
  } catch (error) {
    await cleanup().catch(() => undefined)
    throw error
  }
}

function makeNode(spec: {
  readonly index: number
  readonly port: number
  readonly cwd: string
  readonly redis: RunningRedis
  readonly args: readonly string[]
}): ClusterNode {
  const { index, port, cwd, redis } = spec
  const id = `node-${index}`
  const httpUrl = `http://127.0.0.1:${port}`
  let current: ServerProcess | null = null
  const earlier: string[] = []
  const node: ClusterNode = {
    index,
    id,
    port,
    httpUrl,
    get running() {
      return current !== null
    },
    get process() {
      if (!current) throw new Error(`node ${index} is not running`)
      return current
    },
    async start() {
      if (current) throw new Error(`node ${index} is running already`)
      const args = [
        ...['--redis-url', redis.url, '--node-id', id],
        ...['--host', '127.0.0.1', '--port', String(port)],
        ...['--trust-proxy', '--static-dir', distPath('editor')],
        ...spec.args,
      ]
      current = await startProcess(args, {}, { cwd })
    },
    async stop(signal = 'SIGTERM') {
      const running = current
      if (!running) return 'not running'
      const code = await stopProcess(running, signal)
      earlier.push(running.output())
      current = null
      return code
    },
    async health() {
      const response = await fetch(`${httpUrl}/healthz`)
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    },
    async metric(name) {
      const text = await (await fetch(`${httpUrl}/metrics`)).text()
      const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]
      return value === undefined ? Number.NaN : Number(value)
    },
    output: () => [...earlier, current?.output() ?? ''].join('\n--- restarted\n'),
  }
  return node
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}
