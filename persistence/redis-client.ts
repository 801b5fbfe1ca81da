/**
 * The Redis store's connection: a node-redis client set up with the store's bounds, the scripts
 * loaded and run by SHA1 (by source when Redis lost them in a restart), and Redis failures turned
 * into StoreErrors that say what failed.
 */
import { createClient, ErrorReply, RESP_TYPES, TimeoutError, TimeoutReadError } from 'redis'
import { asText } from './redis-records.js'
import { SCRIPTS, type Script } from './redis-scripts.js'
import { StoreError, type StoreErrorCode } from './store.js'

export interface ConnectionSettings {
  readonly url: string
  readonly connectTimeoutMs: number
  readonly commandTimeoutMs: number
  readonly reconnectMaxDelayMs: number
  readonly maxQueuedCommands: number
  readonly onConnectionError?: (error: Error) => void
}

/** Wait before the first reconnection attempt, in ms; it doubles up to `reconnectMaxDelayMs`. */
const FIRST_RECONNECT_DELAY_MS = 50

/**
 * Connects, checks the server (7.0 or later: the scripts' shebang flags) and loads the scripts.
 * Rejects with `TANDEM_ERR_STORE_OPEN`, naming the URL without its password, when the URL is bad
 * or Redis cannot be used within `connectTimeoutMs`.
 */
export async function connectRedis(settings: ConnectionSettings): Promise<RedisConnection> {
  const label = redactUrl(settings.url)
  const started = performance.now()
  let opened = false
  let client: Client
  try {
    client = makeClient(settings, (retries, cause) =>
      // Until open, give up after connectTimeoutMs; once open, keep trying.
      !opened && performance.now() - started >= settings.connectTimeoutMs
        ? cause
        : Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** retries, settings.reconnectMaxDelayMs),
    )
  } catch (cause) {
    throw new StoreError('TANDEM_ERR_STORE_OPEN', `bad Redis URL ${label}: ${(cause as Error).message}`, {
      cause,
    })
  }
  const connection = new RedisConnection(client, settings)
  try {
    await client.connect()
    const info = asText(await client.sendCommand<unknown>(['INFO', 'server']), 'INFO') ?? ''
    const version = /redis_version:(\d+)\.(\d+)/.exec(info)
    if (version && Number(version[1]) < 7)
      throw new Error(`Redis 7.0 or later is needed, this one is ${version[1]}.${version[2]}`)
    for (const script of SCRIPTS) {
      const sha = await client.sendCommand<unknown>(['SCRIPT', 'LOAD', script.source])
      if (asText(sha, 'SCRIPT LOAD') !== script.sha) throw new Error(`script ${script.name}: unexpected SHA1`)
    }
  } catch (cause) {
    client.destroy()
    throw new StoreError(
      'TANDEM_ERR_STORE_OPEN',
      `cannot open the Redis store at ${label}: ${(cause as Error).message}`,
      { cause },
    )
  }
  opened = true
  return connection
}

/**
 * A client with the store's bounds that keeps reconnecting, not connected yet (`connect()` it):
 * for the cluster relay's Pub/Sub and heartbeats. Throws on a bad URL.
 */
export function createRedisClient(settings: ConnectionSettings) {
  return makeClient(settings, (retries) =>
    Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** retries, settings.reconnectMaxDelayMs),
  )
}

function makeClient(
  settings: ConnectionSettings,
  reconnect: (retries: number, cause: Error) => number | Error,
) {
  return createClient({
    url: settings.url,
    RESP: 2,
    maintNotifications: 'disabled',
    disableClientInfo: true,
    // Bounded: commands refused past this many waiting, and each answered in time or rejected,
    // sent or not (a reply that comes after is discarded).
    commandsQueueMaxLength: settings.maxQueuedCommands,
    commandOptions: {
      timeout: settings.commandTimeoutMs,
      rejectInFlight: true,
      typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer },
    },
    socket: { connectTimeout: settings.connectTimeoutMs, reconnectStrategy: reconnect },
  })
}

export type RedisClient = ReturnType<typeof makeClient>
type Client = RedisClient

export class RedisConnection {
  /** The last connection error (node-redis reconnects by itself), to say why commands fail. */
  private lastError: Error | null = null

  constructor(
    private readonly client: Client,
    private readonly settings: ConnectionSettings,
  ) {
    client.on('error', (error: Error) => {
      this.lastError = error
      settings.onConnectionError?.(error)
    })
  }

  /** Whether the connection is up (false while node-redis reconnects). */
  get ready(): boolean {
    return this.client.isReady
  }

  /** Sends one command; replies come as Buffers (bulk strings), numbers, arrays and null. */
  command(args: ReadonlyArray<string | Buffer>): Promise<unknown> {
    return this.client.sendCommand<unknown>(args)
  }

  /**
   * Runs a script by its SHA1, and by its source when Redis lacks it; answered by `deadline`
   * (performance.now()) when given, else within commandTimeoutMs.
   */
  async eval(
    script: Script,
    keys: readonly string[],
    args: ReadonlyArray<string | Buffer>,
    deadline?: number,
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args]
    const options = () =>
      deadline === undefined ? undefined : { timeout: Math.max(1, Math.ceil(deadline - performance.now())) }
    try {
      return await this.client.sendCommand<unknown>(['EVALSHA', script.sha, ...tail], options())
    } catch (error) {
      if (!(error instanceof ErrorReply && error.message.startsWith('NOSCRIPT'))) throw error
      return await this.client.sendCommand<unknown>(['EVAL', script.source, ...tail], options())
    }
  }

  /** `cause` as a StoreError with `code`, its message `what` failed and why. */
  failure(code: StoreErrorCode, what: string, cause: unknown): StoreError {
    if (cause instanceof StoreError) return cause
    const unreachable =
      !this.client.isReady && this.lastError ? ` (Redis unreachable: ${this.lastError.message})` : ''
    const reason =
      cause instanceof TimeoutError || cause instanceof TimeoutReadError
        ? `no answer from Redis within ${this.settings.commandTimeoutMs} ms${unreachable}`
        : cause instanceof ErrorReply
          ? `Redis answered ${cause.message}`
          : `${(cause as Error).message}${unreachable}`
    return new StoreError(code, `${what}: ${reason}`, { cause })
  }

  /** Closes the connection (at once when Redis is unreachable: nothing is waiting by then). */
  async close(): Promise<void> {
    if (!this.client.isReady) {
      this.client.destroy()
      return
    }
    await this.client.close().catch(() => this.client.destroy())
  }
}

/** `url` with its password (or anything between `//` and `@` when it does not parse) masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@')
  }
}
