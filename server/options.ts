import { createPublicKey } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import type { JSONWebKeySet } from 'jose'
import type { Logger } from 'pino'
import type { DocStore } from '../persistence/store.js'
import type { Authenticate } from './auth.js'
import { OptionsError } from './errors.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Everything `createServer` accepts. Every field is optional; see {@link DEFAULTS}. */
export interface ServerOptions {
  /** TCP port to listen on; 0 picks a free one. Default 1234. Ignored with `httpServer`. */
  readonly port?: number
  /** Address to bind. Default `127.0.0.1` (loopback only). Ignored with `httpServer`. */
  readonly host?: string
  /** Attach to this existing server instead of listening: Tandem handles its upgrades only. */
  readonly httpServer?: HttpServer
  /** Directory of the embedded LevelDB store. Default `./data`. Ignored with `store`. */
  readonly dataDir?: string
  /** A document store to use instead of the LevelDB one in `dataDir`; Tandem closes it on `close()`. */
  readonly store?: DocStore
  /**
   * Cluster mode: store documents in this Redis (`redis[s]://[[user]:password@]host[:port][/db]`)
   * and share them live with every node on it, instead of LevelDB in `dataDir`. Default null.
   */
  readonly redisUrl?: string | null
  /** Cluster mode: this node's id in Redis (printable ASCII, no spaces). Default: a random UUID. */
  readonly nodeId?: string
  /**
   * Sync every write batch to disk (power-loss durability). Default false (crash durability). In
   * cluster mode Redis does the writing: this checks that it runs with `appendfsync always`.
   */
  readonly fsync?: boolean
  /** Directory of the built editor to serve over HTTP; `null` serves none. Default `null`. */
  readonly staticDir?: string | null
  /** Log level of the built-in pino logger. Default `warn`. Ignored with `logger`. */
  readonly logLevel?: LogLevel
  /** A pino logger to use instead of the built-in one. */
  readonly logger?: Logger
  /** Largest WebSocket message accepted, in bytes; larger ones close the socket with 1009. Default 16 MiB. */
  readonly maxMessageBytes?: number
  /** Send-buffer size, in bytes, past which a slow consumer is closed with 1013. Default 16 MiB. */
  readonly maxBufferedBytes?: number
  /**
   * Back-pressure: a connection's socket is not read while more than this many bytes of the updates
   * it sent wait for the store, and is read again once half of them are written. Default 8 MiB.
   */
  readonly maxUnsavedBytes?: number
  /** Messages a connection may send while its room loads; more close it with 1013. Default 1000. */
  readonly maxQueuedMessages?: number
  /** Interval of the ping/pong heartbeat; a socket that missed one pong is dropped. Default 30 000 ms. */
  readonly pingIntervalMs?: number
  /**
   * Group commit: at most one journal write starts per this window and every update that arrives
   * meanwhile joins it (fewer writes, up to this much more latency); a write after a quiet spell
   * starts at once. Default 0: one write per turn of the event loop, for everything read in it.
   */
  readonly commitIntervalMs?: number
  /**
   * Compact a document once it has this many stored update records and they add up to a quarter
   * of its size when last compacted, or 4 times this many whatever their size. Default 2 000.
   */
  readonly compactAfterRecords?: number
  /** Delay before retrying to persist a room whose write failed. Default 5 000 ms. */
  readonly persistRetryMs?: number
  /** Awareness (cursor) changes of a room are sent together once per this window. Default 30 ms. */
  readonly awarenessFlushMs?: number
  /**
   * A client's own awareness changes are not echoed back to it, except when it has heard nothing
   * from the server for this long (or is alone in its room): the stock client drops a connection
   * that hears nothing for 30 s. Default 10 000 ms.
   */
  readonly keepaliveMs?: number

  // Who gets in. With none of these, anyone who can reach the port may open any document.
  /** Turns JWT auth on with this HS256 secret (at least 32 characters). */
  readonly authSecret?: string
  /** Turns JWT auth on with this PEM public key (RSA → RS256, EC → ES256). */
  readonly authPublicKey?: string
  /** Turns JWT auth on with the public keys of this JSON Web Key Set (RS256, ES256). */
  readonly authJwks?: JSONWebKeySet
  /** Decides access for each connection (your own sessions); takes precedence over the JWT options. */
  readonly authenticate?: Authenticate
  /** Browser origins allowed to connect (`https://app.example.com`); others get HTTP 403. Default: any. */
  readonly allowedOrigins?: readonly string[] | null
  /** Serve https and wss with this PEM certificate and key. Ignored with `httpServer`. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer } | null
  /** Take the client address from the last `X-Forwarded-For` entry (behind a proxy). Default false. */
  readonly trustProxy?: boolean

  // What no client may exceed. 0 turns a limit off.
  /** Messages a connection may send per second (bursts of twice that); more close it with 1008. Default 300. */
  readonly maxMessagesPerSecond?: number
  /** Bytes a connection may send per second (bursts of one largest message more); more close it with 1008. Default 1 MiB. */
  readonly maxBytesPerSecond?: number
  /** Open connections per client address; more are refused with HTTP 429. Default 200. */
  readonly maxConnectionsPerIp?: number
  /** Connections per document; more are closed with 1013. Default 1000. */
  readonly maxConnectionsPerRoom?: number
  /** Documents in memory; a connection that would load one more is closed with 1013. Default 10 000. */
  readonly maxRooms?: number
  /** Largest awareness (cursor/presence) message, in bytes; larger ones close with 1008. Default 64 KiB. */
  readonly maxAwarenessBytes?: number
  /** Longest room name, in UTF-8 bytes; longer ones are refused with HTTP 400. Default 512. */
  readonly maxRoomNameBytes?: number
  /** Bytes of updates waiting for missing dependencies a room holds; past it the sender is closed with 1008. Default 1 MiB. */
  readonly maxPendingUpdateBytes?: number
  /** Time to finish the HTTP/TLS handshake and, with auth, to be authenticated. Default 10 000 ms. */
  readonly handshakeTimeoutMs?: number
  /** HTTP API requests a client address may make per second (bursts of twice that); more get 429. Default 20. */
  readonly maxApiRequestsPerSecond?: number
  /** Largest HTTP API request body, in bytes; larger ones get 413. Default 16 MiB. */
  readonly maxApiBodyBytes?: number

  // Version history.
  /** A version is recorded once a document had no change for this long; 0: only on request and at unload. Default 30 000 ms. */
  readonly versionQuietMs?: number
  /** While editing goes on, a version is recorded at the latest this long after the first change not in one. Default 300 000 ms. */
  readonly versionIntervalMs?: number
}

type Nullable =
  | 'httpServer'
  | 'store'
  | 'redisUrl'
  | 'logger'
  | 'staticDir'
  | 'allowedOrigins'
  | 'tls'
  | 'authenticate'
type Absent = 'authSecret' | 'authPublicKey' | 'authJwks' | 'nodeId'

export type ResolvedOptions = Required<Omit<ServerOptions, Nullable | Absent>> &
  Pick<ServerOptions, Absent> & {
    readonly httpServer: HttpServer | null
    readonly store: DocStore | null
    readonly redisUrl: string | null
    readonly logger: Logger | null
    readonly staticDir: string | null
    readonly allowedOrigins: readonly string[] | null
    readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | null
    readonly authenticate: Authenticate | null
  }

export const DEFAULTS = {
  port: 1234,
  host: '127.0.0.1',
  httpServer: null,
  dataDir: './data',
  store: null,
  redisUrl: null,
  fsync: false,
  staticDir: null,
  logLevel: 'warn',
  logger: null,
  maxMessageBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxUnsavedBytes: 8 * 1024 * 1024,
  maxQueuedMessages: 1000,
  pingIntervalMs: 30_000,
  commitIntervalMs: 0,
  compactAfterRecords: 2_000,
  persistRetryMs: 5_000,
  awarenessFlushMs: 30,
  keepaliveMs: 10_000,
  authenticate: null,
  allowedOrigins: null,
  tls: null,
  trustProxy: false,
  maxMessagesPerSecond: 300,
  maxBytesPerSecond: 1024 * 1024,
  maxConnectionsPerIp: 200,
  maxConnectionsPerRoom: 1000,
  maxRooms: 10_000,
  maxAwarenessBytes: 64 * 1024,
  maxRoomNameBytes: 512,
  maxPendingUpdateBytes: 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  maxApiRequestsPerSecond: 20,
  maxApiBodyBytes: 16 * 1024 * 1024,
  versionQuietMs: 30_000,
  versionIntervalMs: 300_000,
} as const satisfies ResolvedOptions

const INTEGER_LIMITS = {
  port: [0, 65_535],
  maxMessageBytes: [64, 2 ** 31 - 1],
  maxBufferedBytes: [1024, 2 ** 40],
  maxUnsavedBytes: [1024, 2 ** 40],
  maxQueuedMessages: [1, 1_000_000],
  pingIntervalMs: [100, 3_600_000],
  commitIntervalMs: [0, 1_000],
  compactAfterRecords: [2, 10_000_000],
  persistRetryMs: [10, 3_600_000],
  awarenessFlushMs: [0, 1_000],
  keepaliveMs: [100, 25_000],
  maxMessagesPerSecond: [0, 1_000_000],
  maxBytesPerSecond: [0, 2 ** 40],
  maxConnectionsPerIp: [0, 10_000_000],
  maxConnectionsPerRoom: [0, 10_000_000],
  maxRooms: [0, 10_000_000],
  maxAwarenessBytes: [64, 2 ** 31 - 1],
  maxRoomNameBytes: [1, 65_536],
  maxPendingUpdateBytes: [0, 2 ** 40],
  handshakeTimeoutMs: [100, 600_000],
  maxApiRequestsPerSecond: [0, 1_000_000],
  maxApiBodyBytes: [64, 2 ** 31 - 1],
  versionQuietMs: [0, 86_400_000],
  versionIntervalMs: [100, 86_400_000],
} as const satisfies Partial<Record<keyof ServerOptions, readonly [number, number]>>

/**
 * Fills in defaults and validates. Throws an {@link OptionsError} naming the first bad option and
 * its value; never returns a half-valid result.
 */
export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = { ...DEFAULTS, ...stripUndefined(options) }
  for (const [name, [min, max]] of Object.entries(INTEGER_LIMITS)) {
    const value: unknown = resolved[name as keyof typeof INTEGER_LIMITS]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new OptionsError(
        name,
        `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      )
    }
  }
  if (typeof resolved.host !== 'string' || resolved.host.length === 0) {
    throw new OptionsError('host', `host must be a non-empty string, got ${JSON.stringify(resolved.host)}`)
  }
  if (resolved.redisUrl !== null) {
    if (typeof resolved.redisUrl !== 'string' || !/^rediss?:\/\/./.test(resolved.redisUrl)) {
      throw new OptionsError(
        'redisUrl',
        `redisUrl must be a redis:// or rediss:// URL, got ${JSON.stringify(resolved.redisUrl)}`,
      )
    }
    if (resolved.store !== null) throw new OptionsError('redisUrl', 'use redisUrl or store, not both')
  }
  if (
    resolved.nodeId !== undefined &&
    (typeof resolved.nodeId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(resolved.nodeId))
  ) {
    throw new OptionsError(
      'nodeId',
      `nodeId must be 1 to 200 printable ASCII characters without spaces, got ${JSON.stringify(resolved.nodeId)}`,
    )
  }
  if (resolved.store === null && (typeof resolved.dataDir !== 'string' || resolved.dataDir.length === 0)) {
    throw new OptionsError(
      'dataDir',
      `dataDir must be a non-empty path, got ${JSON.stringify(resolved.dataDir)}`,
    )
  }
  if (!LOG_LEVELS.includes(resolved.logLevel)) {
    throw new OptionsError(
      'logLevel',
      `logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(resolved.logLevel)}`,
    )
  }
  for (const name of ['fsync', 'trustProxy'] as const) {
    if (typeof resolved[name] !== 'boolean') {
      throw new OptionsError(name, `${name} must be a boolean, got ${JSON.stringify(resolved[name])}`)
    }
  }
  validateAuth(resolved)
  if (
    resolved.allowedOrigins !== null &&
    (!Array.isArray(resolved.allowedOrigins) ||
      !resolved.allowedOrigins.every(
        (o) => typeof o === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(o),
      ))
  ) {
    throw new OptionsError(
      'allowedOrigins',
      `allowedOrigins must be a list of origins such as https://app.example.com, got ${JSON.stringify(resolved.allowedOrigins)}`,
    )
  }
  if (resolved.tls !== null && (!resolved.tls.cert || !resolved.tls.key)) {
    throw new OptionsError('tls', 'tls needs both a cert and a key')
  }
  return resolved
}

function validateAuth(resolved: ResolvedOptions): void {
  const given = (['authSecret', 'authPublicKey', 'authJwks'] as const).filter(
    (k) => resolved[k] !== undefined,
  )
  if (given.length > 1) {
    throw new OptionsError(given[1] ?? 'authSecret', `use one of ${given.join(', ')}, not several`)
  }
  if (
    resolved.authSecret !== undefined &&
    (typeof resolved.authSecret !== 'string' || resolved.authSecret.length < 32)
  ) {
    throw new OptionsError('authSecret', 'authSecret must be at least 32 characters (256 bits for HS256)')
  }
  if (resolved.authPublicKey !== undefined) {
    let type: string | undefined
    try {
      type = createPublicKey(resolved.authPublicKey).asymmetricKeyType
    } catch (error) {
      throw new OptionsError(
        'authPublicKey',
        `authPublicKey is not a PEM public key: ${(error as Error).message}`,
      )
    }
    if (type !== 'rsa' && type !== 'ec') {
      throw new OptionsError('authPublicKey', `authPublicKey must be an RSA or EC key, got ${type}`)
    }
  }
  if (resolved.authJwks !== undefined && !Array.isArray(resolved.authJwks?.keys)) {
    throw new OptionsError('authJwks', 'authJwks must be a JSON Web Key Set: { "keys": [...] }')
  }
  if (resolved.authenticate !== null && typeof resolved.authenticate !== 'function') {
    throw new OptionsError('authenticate', 'authenticate must be a function')
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
