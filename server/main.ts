#!/usr/bin/env node
/**
 * The `tandem` command: the server (`tandem`, `tandem serve`: flags and environment → options,
 * start, signals → close()) and the admin commands (`server/cli/`). The only file that reads
 * process.env or calls process.exit.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { StoreError } from '../persistence/store.js'
import { ADMIN_COMMANDS, type AdminArgs, parseAdminArgs, parseCommandLine } from './cli/args.js'
import { CommandError, UsageError } from './cli/errors.js'
import { parseTokenArgs, TOKEN_USAGE } from './cli/token.js'
import { ADMIN_USAGE } from './cli/usage.js'
import { OptionsError } from './errors.js'
import { DEFAULTS, LOG_LEVELS, type LogLevel, type ServerOptions } from './options.js'

const USAGE = `Usage: tandem [options]              the server (also: tandem serve [options])
       tandem <command> [options]    an admin command (below)
       tandem token [options]        a JWT for a server with --auth-secret (tandem token --help)

Serves the Tandem editor and its y-websocket sync server on one HTTP port.

Server options (flags win over environment variables):
  --port <n>             TCP port, 0 for any free one            env PORT       default 1234
  --host <addr>          address to bind                         env HOST       default 127.0.0.1
  --data-dir <path>      LevelDB data directory                  env DATA_DIR   default ./data
  --fsync                sync every write to disk (power-loss    env FSYNC=1    default off
                         durability; costs throughput)
  --redis-url <url>      cluster mode: documents in this Redis,   env REDIS_URL
                         shared live with every node on it
                         (redis[s]://[[user]:password@]host[:port][/db]; replaces --data-dir)
  --node-id <id>         cluster mode: this node's id in Redis    env NODE_ID    default random
  --static-dir <path>    built editor to serve, "" for none      env STATIC_DIR default the
                         (relative to the current directory)     package's built editor
  --log-level <level>    ${LOG_LEVELS.join('|')}   env LOG_LEVEL  default info
  --max-message-bytes <n>  largest accepted message (1009 past it)  default 16777216

Security (see SECURITY.md):
  --auth-secret <s>      require JWTs signed with this HS256      env AUTH_SECRET
                         secret (32+ characters)
  --auth-public-key <f>  require JWTs signed by this PEM public   env AUTH_PUBLIC_KEY_FILE
                         key's private key (RS256/ES256)
  --auth-jwks <f>        require JWTs signed by a key of this     env AUTH_JWKS_FILE
                         JSON Web Key Set file (RS256/ES256)
  --allowed-origins <l>  comma-separated browser origins allowed  env ALLOWED_ORIGINS
                         to connect (others: HTTP 403)            default any
  --tls-cert <file>      serve https/wss with this PEM            env TLS_CERT_FILE
  --tls-key <file>       certificate and key                      env TLS_KEY_FILE
  --trust-proxy          client address from X-Forwarded-For      env TRUST_PROXY=1
  --max-connections-per-ip <n>    HTTP 429 past it (0: no limit)   default 200
  --max-connections-per-room <n>  1013 past it (0: no limit)       default 1000
  --max-rooms <n>        documents in memory, 1013 past it        default 10000
  --max-messages-per-second <n>   per connection, 1008 past it     default 300
  --max-bytes-per-second <n>      per connection, 1008 past it     default 1048576
  --max-buffered-bytes <n>        send buffer, 1013 past it        default 16777216
  --max-unsaved-bytes <n>         a writer's socket waits past it  default 8388608
  --max-api-requests-per-second <n>  HTTP API, per address, 429 past it  default 20
  --max-api-body-bytes <n>        HTTP API request body, 413 past it default 16777216

Version history:
  --version-quiet-ms <n>  record a version once a document had no change this long
                          (0: only on request and when it unloads)  default 30000
  --version-interval-ms <n>  …and at the latest this long after its first change not
                          in a version while editing goes on      default 300000
  -h, --help             show this help

Signals: SIGINT/SIGTERM close every socket with 1001 after flushing all writes; SIGUSR2 does the
same with 1012 (restart); SIGHUP reads --tls-cert/--tls-key again for new connections.
Exit status: 0 after a clean shutdown, 2 for bad options, 1 otherwise.

${ADMIN_USAGE}`

/**
 * The editor built into this package (dist/editor beside dist/server), wherever the process was
 * started from: a systemd unit, `npx tandem` in another folder and a global install all find it.
 */
const BUILT_EDITOR = fileURLToPath(new URL('../editor/', import.meta.url))

function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv): ServerOptions | 'help' {
  const parsed = parseCommandLine({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      fsync: { type: 'boolean' },
      'redis-url': { type: 'string' },
      'node-id': { type: 'string' },
      'static-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'auth-secret': { type: 'string' },
      'auth-public-key': { type: 'string' },
      'auth-jwks': { type: 'string' },
      'allowed-origins': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'trust-proxy': { type: 'boolean' },
      'max-connections-per-ip': { type: 'string' },
      'max-connections-per-room': { type: 'string' },
      'max-rooms': { type: 'string' },
      'max-messages-per-second': { type: 'string' },
      'max-bytes-per-second': { type: 'string' },
      'max-buffered-bytes': { type: 'string' },
      'max-unsaved-bytes': { type: 'string' },
      'max-api-requests-per-second': { type: 'string' },
      'max-api-body-bytes': { type: 'string' },
      'version-quiet-ms': { type: 'string' },
      'version-interval-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const { values } = parsed
  if (values.help) return 'help'
  const integer = (flag: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined
    if (!/^\d+$/.test(raw))
      throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(raw)}`)
    return Number(raw)
  }
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info'
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new UsageError(
      `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    )
  }
  const staticDir = values['static-dir'] ?? env.STATIC_DIR ?? BUILT_EDITOR
  const file = (flag: string, path: string | undefined): string | undefined => {
    if (path === undefined) return undefined
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new UsageError(
        `--${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      )
    }
  }
  const jwksText = file('auth-jwks', values['auth-jwks'] ?? env.AUTH_JWKS_FILE)
  let authJwks: ServerOptions['authJwks']
  try {
    authJwks = jwksText === undefined ? undefined : JSON.parse(jwksText)
  } catch {
    throw new UsageError('--auth-jwks: the file is not JSON')
  }
  const cert = file('tls-cert', values['tls-cert'] ?? env.TLS_CERT_FILE)
  const key = file('tls-key', values['tls-key'] ?? env.TLS_KEY_FILE)
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      `--${cert === undefined ? 'tls-cert' : 'tls-key'} is needed too: TLS takes a certificate and a key`,
    )
  }
  const origins = values['allowed-origins'] ?? env.ALLOWED_ORIGINS
  return {
    port: integer('port', values.port ?? env.PORT) ?? DEFAULTS.port,
    host: values.host ?? env.HOST ?? DEFAULTS.host,
    dataDir: values['data-dir'] ?? env.DATA_DIR ?? DEFAULTS.dataDir,
    fsync: values.fsync ?? env.FSYNC === '1',
    redisUrl: values['redis-url'] ?? (env.REDIS_URL || null),
    nodeId: values['node-id'] ?? (env.NODE_ID || undefined),
    staticDir: staticDir === '' ? null : staticDir,
    logLevel: logLevel as LogLevel,
    maxMessageBytes: integer('max-message-bytes', values['max-message-bytes']),
    authSecret: values['auth-secret'] ?? (env.AUTH_SECRET || undefined),
    authPublicKey: file('auth-public-key', values['auth-public-key'] ?? env.AUTH_PUBLIC_KEY_FILE),
    authJwks,
    allowedOrigins:
      origins === undefined
        ? null
        : origins
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean),
    tls: cert !== undefined && key !== undefined ? { cert, key } : null,
    trustProxy: values['trust-proxy'] ?? env.TRUST_PROXY === '1',
    maxConnectionsPerIp: integer('max-connections-per-ip', values['max-connections-per-ip']),
    maxConnectionsPerRoom: integer('max-connections-per-room', values['max-connections-per-room']),
    maxRooms: integer('max-rooms', values['max-rooms']),
    maxMessagesPerSecond: integer('max-messages-per-second', values['max-messages-per-second']),
    maxBytesPerSecond: integer('max-bytes-per-second', values['max-bytes-per-second']),
    maxBufferedBytes: integer('max-buffered-bytes', values['max-buffered-bytes']),
    maxUnsavedBytes: integer('max-unsaved-bytes', values['max-unsaved-bytes']),
    maxApiRequestsPerSecond: integer('max-api-requests-per-second', values['max-api-requests-per-second']),
    maxApiBodyBytes: integer('max-api-body-bytes', values['max-api-body-bytes']),
    versionQuietMs: integer('version-quiet-ms', values['version-quiet-ms']),
    versionIntervalMs: integer('version-interval-ms', values['version-interval-ms']),
  }
}

/** Maps a library option name back to the flag a user typed. */
function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** Prints a bad command line's message and exits with status 2. */
function usageFailure(error: UsageError): never {
  process.stderr.write(`tandem: ${error.message}\nRun 'tandem --help' for usage.\n`)
  process.exit(2)
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const [first] = argv
  if (first !== undefined && ADMIN_COMMANDS.includes(first)) return admin(argv)
  if (first === 'token') return token(argv.slice(1))
  if (first === 'help') {
    process.stdout.write(USAGE)
    return
  }
  if (first !== undefined && first !== 'serve' && !first.startsWith('-')) {
    usageFailure(new UsageError(`unknown command "${first}": serve, ${ADMIN_COMMANDS.join(', ')}, token`))
  }
  return serve(first === 'serve' ? argv.slice(1) : argv)
}

/** `tandem token`: prints a JWT for a server with --auth-secret; exit status 2 for bad usage. */
async function token(argv: readonly string[]): Promise<void> {
  let parsed: ReturnType<typeof parseTokenArgs>
  try {
    parsed = parseTokenArgs(argv, process.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    process.stderr.write(`token: ${error.message}\n`)
    process.exit(2)
  }
  if (parsed === 'help') {
    process.stdout.write(TOKEN_USAGE)
    return
  }
  const { signToken } = await import('./auth.js')
  process.stdout.write(`${await signToken(parsed.secret, parsed.claims)}\n`)
}

/** An admin command: exit status 0 when done, 1 when it failed, 2 for bad usage. */
async function admin(argv: readonly string[]): Promise<void> {
  let args: AdminArgs | 'help'
  try {
    args = parseAdminArgs(argv, process.env)
  } catch (error) {
    if (error instanceof UsageError) usageFailure(error)
    throw error
  }
  if (args === 'help') {
    process.stdout.write(ADMIN_USAGE)
    return
  }
  // Output piped into a reader that stopped (`| head`): nothing more to say.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })
  const { runAdmin } = await import('./cli/run.js')
  try {
    await runAdmin(args, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin })
  } catch (error) {
    if (error instanceof UsageError) usageFailure(error)
    if (!(error instanceof CommandError)) throw error
    process.stderr.write(`tandem: ${error.message}\n`)
    // Not exit(): whatever is still buffered for stdout gets written.
    process.exitCode = 1
  }
}

/** The server, until a signal closes it. */
async function serve(argv: readonly string[]): Promise<void> {
  let options: ServerOptions | 'help'
  try {
    options = parseFlags(argv, process.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    usageFailure(error)
  }
  if (options === 'help') {
    process.stdout.write(USAGE)
    return
  }
  const { createServer } = await import('./server.js')
  let server: ReturnType<typeof createServer>
  try {
    server = createServer(options)
    await server.listen()
  } catch (error) {
    if (error instanceof OptionsError) {
      process.stderr.write(`tandem: ${flagOf(error.option)}: ${error.message}\n`)
      process.exit(2)
    }
    if (error instanceof StoreError) {
      process.stderr.write(`tandem: ${options.redisUrl ? '--redis-url' : '--data-dir'}: ${error.message}\n`)
      process.exit(1)
    }
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(
        `tandem: --port/--host: cannot listen on ${options.host}:${options.port} (${code})\n`,
      )
      process.exit(1)
    }
    throw error
  }
  const scheme = options.tls ? 'https' : 'http'
  server.log.info(
    {
      url: `${scheme}://${options.host}:${server.port}`,
      ...(options.redisUrl ? {} : { dataDir: options.dataDir }),
    },
    'tandem ready',
  )
  let stopping = false
  const stop = (restart: boolean) => {
    if (stopping) {
      server.log.warn('already shutting down; waiting for writes to finish')
      return
    }
    stopping = true
    server.close({ restart }).then(
      () => process.exit(0),
      (error: unknown) => {
        server.log.fatal({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop(false))
  process.on('SIGTERM', () => stop(false))
  process.on('SIGUSR2', () => stop(true))
  // A renewed certificate: read the files again and serve new connections with them.
  process.on('SIGHUP', () => {
    try {
      const fresh = parseFlags(argv, process.env)
      if (fresh === 'help' || !fresh.tls)
        throw new UsageError('SIGHUP reloads --tls-cert/--tls-key, and TLS is off')
      server.reloadTls(fresh.tls)
      server.log.info('TLS certificate reloaded')
    } catch (error) {
      const message =
        error instanceof OptionsError ? `--tls-cert: ${error.message}` : (error as Error).message
      server.log.error(`TLS certificate not reloaded, the previous one stays: ${message}`)
    }
  })
}

main().catch((error: unknown) => {
  process.stderr.write(`tandem: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
