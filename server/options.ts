import type { Server as HttpServer } from 'node:http'
import type { Logger } from 'pino'
import type { DocStore } from '../persistence/store.js'
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
  /** Sync every write batch to disk (power-loss durability). Default false (crash durability). */
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
  /** Messages a connection may send while its room loads; more close it with 1013. Default 1000. */
  readonly maxQueuedMessages?: number
  /** Interval of the ping/pong heartbeat; a socket that missed one pong is dropped. Default 30 000 ms. */
  readonly pingIntervalMs?: number
  /** Compact a document once it has this many stored update records. Default 500. */
  readonly compactAfterRecords?: number
  /** Delay before retrying to persist a room whose write failed. Default 5 000 ms. */
  readonly persistRetryMs?: number
  /** Awareness (cursor) changes of a room are sent together once per this window. Default 30 ms. */
  readonly awarenessFlushMs?: number
}

export type ResolvedOptions = Required<
  Omit<ServerOptions, 'httpServer' | 'store' | 'logger' | 'staticDir'>
> & {
  readonly httpServer: HttpServer | null
  readonly store: DocStore | null
  readonly logger: Logger | null
  readonly staticDir: string | null
}

export const DEFAULTS = {
  port: 1234,
  host: '127.0.0.1',
  httpServer: null,
  dataDir: './data',
  store: null,
  fsync: false,
  staticDir: null,
  logLevel: 'warn',
  logger: null,
  maxMessageBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxQueuedMessages: 1000,
  pingIntervalMs: 30_000,
  compactAfterRecords: 500,
  persistRetryMs: 5_000,
  awarenessFlushMs: 30,
} as const satisfies ResolvedOptions

const INTEGER_LIMITS = {
  port: [0, 65_535],
  maxMessageBytes: [64, 2 ** 31 - 1],
  maxBufferedBytes: [1024, 2 ** 40],
  maxQueuedMessages: [1, 1_000_000],
  pingIntervalMs: [100, 3_600_000],
  compactAfterRecords: [2, 10_000_000],
  persistRetryMs: [10, 3_600_000],
  awarenessFlushMs: [0, 1_000],
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
  if (typeof resolved.fsync !== 'boolean') {
    throw new OptionsError('fsync', `fsync must be a boolean, got ${JSON.stringify(resolved.fsync)}`)
  }
  return resolved
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
