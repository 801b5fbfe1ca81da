import { EventEmitter } from 'node:events'
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import { type Logger, pino } from 'pino'
import { type WebSocket, WebSocketServer } from 'ws'
import { createNodeDom, type NodeDom } from '../content/dom-node.js'
import { openLevelStore } from '../persistence/level.js'
import { openRedisStore, redactUrl } from '../persistence/redis.js'
import type { DocStore } from '../persistence/store.js'
import type { ApiDeps } from './api.js'
import { AuthError, type Authenticate, jwtAuthenticator, tokenOf } from './auth.js'
import { DocBuilder } from './builder.js'
import { type Cluster, openCluster } from './cluster.js'
import { Connection, type ConnectionOptions, Framer } from './connection.js'
import { CloseCode, ConnectionError, documentDeleted, HttpError, OptionsError } from './errors.js'
import {
  checkOrigin,
  clientAddress,
  handleHttp,
  parseUpgradeTarget,
  refuseUpgrade,
  sendJson,
  type UpgradeTarget,
} from './http.js'
import { ConnectionCounter, KeyedRateLimit, type RateLimits } from './limits.js'
import { createMetrics, type Metrics, Stats } from './metrics.js'
import { type ResolvedOptions, resolveOptions, type ServerOptions } from './options.js'
import { Rooms } from './rooms.js'
import { StaticFiles } from './static.js'

/** Events of a {@link TandemServer}; listeners run synchronously on the hot path, keep them cheap. */
export interface TandemEvents {
  /** A document was loaded into memory. */
  roomLoaded: [{ readonly room: string }]
  /** A document was persisted and dropped from memory. */
  roomUnloaded: [{ readonly room: string }]
  /** A document changed; `update` is already handed to the store. */
  change: [{ readonly room: string; readonly update: Uint8Array }]
  connection: [{ readonly room: string }]
  disconnection: [{ readonly room: string; readonly code: number }]
  /** A store write failed; the document stays in memory and the write is retried. */
  persistError: [{ readonly room: string; readonly error: unknown }]
}

export interface ServerAddress {
  readonly host: string
  readonly port: number
}

/**
 * The sync server. Create it with {@link createServer}, start it with `listen()`, stop it with
 * `close()`. Each instance owns its store, rooms, metrics and logger: instances share nothing.
 */
export class TandemServer extends EventEmitter<TandemEvents> {
  readonly log: Logger
  private readonly options: ResolvedOptions
  private readonly stats = new Stats()
  private readonly metrics: Metrics
  private readonly wss: WebSocketServer
  private readonly connections = new Set<Connection>()
  private readonly staticFiles: StaticFiles | null
  private readonly http: HttpServer
  private readonly ownsHttp: boolean
  private readonly authenticate: Authenticate | null
  private readonly perIp: ConnectionCounter
  private sharedConnectionOptions: ConnectionOptions | null = null
  private store: DocStore | null = null
  /** Cluster mode: the relay between this node's rooms and the other nodes'. */
  private cluster: Cluster | null = null
  private rooms: Rooms | null = null
  /** Builds the rooms' documents, large ones in a worker thread. */
  private readonly builder = new DocBuilder()
  private api: ApiDeps | null = null
  /** The DOM the HTTP API converts HTML with, made at its first use. */
  private dom: NodeDom | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private starting: Promise<ServerAddress> | null = null
  private closing: Promise<void> | null = null
  private readonly startedAt = Date.now()

  constructor(options: ServerOptions = {}) {
    super()
    this.options = resolveOptions(options)
    this.log = this.options.logger ?? pino({ level: this.options.logLevel, base: { name: 'tandem' } })
    this.metrics = createMetrics(this.stats, {
      roomsLoaded: () => this.rooms?.size ?? 0,
      roomsLoading: () => this.rooms?.loadingCount ?? 0,
      roomsReading: () => this.rooms?.readingCount ?? 0,
      redisUp: this.options.redisUrl === null ? null : () => this.cluster?.status().ok ?? false,
    })
    this.staticFiles = this.options.staticDir === null ? null : new StaticFiles(this.options.staticDir)
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxMessageBytes,
      // Off: it costs CPU per frame for small binary updates, and Connection.send writes frames
      // itself, which only holds while no extension is negotiated.
      perMessageDeflate: false,
      clientTracking: false,
    })
    this.ownsHttp = this.options.httpServer === null
    this.http = this.options.httpServer ?? this.createHttp()
    const { authenticate, authSecret, authPublicKey, authJwks } = this.options
    this.authenticate =
      authenticate ??
      ((authSecret ?? authPublicKey ?? authJwks)
        ? jwtAuthenticator({ secret: authSecret, publicKey: authPublicKey, jwks: authJwks })
        : null)
    this.perIp = new ConnectionCounter(this.options.maxConnectionsPerIp)
  }

  /** Our own HTTP(S) server, with handshakes that must finish within `handshakeTimeoutMs`. */
  private createHttp(): HttpServer {
    const timeoutMs = this.options.handshakeTimeoutMs
    const timeouts = {
      headersTimeout: timeoutMs,
      requestTimeout: timeoutMs * 2,
      // How often Node checks those timeouts (its default, 30 s, would let them run long).
      connectionsCheckingInterval: Math.min(1000, timeoutMs),
    }
    const { tls } = this.options
    if (tls === null) return createHttpServer(timeouts)
    return createHttpsServer({ ...timeouts, cert: tls.cert, key: tls.key, handshakeTimeout: timeoutMs })
  }

  /**
   * Opens the store, then listens on `port`/`host` (or attaches to `httpServer`). Resolves with
   * the bound address. Rejects with a StoreError when the data directory is locked or unusable, or
   * with the listen error (EADDRINUSE …). Calling it again returns the same promise.
   */
  listen(): Promise<ServerAddress> {
    this.starting ??= this.start()
    return this.starting
  }

  /** The bound port, once listening. */
  get port(): number {
    const address = this.http.address()
    return address && typeof address === 'object' ? address.port : 0
  }

  /**
   * Serves new connections with another certificate and key (a renewed certificate), without a
   * restart; open connections keep theirs. Throws an OptionsError naming `tls` when this server
   * does not serve TLS itself or the PEM is unusable, and then keeps the certificate it had.
   */
  reloadTls(tls: { readonly cert: string | Buffer; readonly key: string | Buffer }): void {
    if (this.options.tls === null || !this.ownsHttp) {
      throw new OptionsError('tls', 'this server does not serve TLS itself: nothing to reload')
    }
    try {
      ;(this.http as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key })
    } catch (cause) {
      throw new OptionsError('tls', `unusable certificate or key: ${(cause as Error).message}`)
    }
  }

  /**
   * Answers Tandem's HTTP routes (health, metrics, the editor) on a server you own; resolves false
   * when the request is not one of them.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    return handleHttp(req, res, {
      metrics: this.metrics,
      staticFiles: this.staticFiles,
      health: () => this.health(),
      api: this.closing === null ? this.api : null,
    })
  }

  /**
   * Stops accepting, closes every socket with 1001 (1012 with `restart`), writes every document to
   * the store, closes it. Idempotent: later calls return the same promise.
   */
  close(options: { readonly restart?: boolean } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.restart === true)
    return this.closing
  }

  private async start(): Promise<ServerAddress> {
    if (this.staticFiles && !this.staticFiles.hasEditor()) {
      this.log.warn(
        { staticDir: this.staticFiles.dir },
        'no built editor to serve: run `npm run build` in a checkout, or pass --static-dir; pages answer 503 until then',
      )
    }
    const [store] = await Promise.all([this.options.store ?? this.openStore(), this.builder.ready()])
    this.store = store
    this.rooms = new Rooms(
      {
        store,
        relay: this.cluster,
        stats: this.stats,
        log: this.log,
        compactAfterRecords: this.options.compactAfterRecords,
        persistRetryMs: this.options.persistRetryMs,
        awarenessFlushMs: this.options.awarenessFlushMs,
        keepaliveMs: this.options.keepaliveMs,
        maxAwarenessBytes: this.options.maxAwarenessBytes,
        maxPendingUpdateBytes: this.options.maxPendingUpdateBytes,
        versionQuietMs: this.options.versionQuietMs,
        versionIntervalMs: this.options.versionIntervalMs,
        maxRooms: this.options.maxRooms,
        maxConnectionsPerRoom: this.options.maxConnectionsPerRoom,
        builder: this.builder,
        events: {
          // Every update passes here: nothing is made for an event nobody listens to.
          onChange: (room, update) => {
            if (this.listenerCount('change') > 0) this.emit('change', { room: room.name, update })
          },
          onPersistError: (room, error) => {
            this.log.error({ room: room.name, err: error }, 'store write failed; document kept in memory')
            this.emit('persistError', { room: room.name, error })
          },
        },
      },
      {
        onLoaded: (room) => this.emit('roomLoaded', { room }),
        onUnloaded: (room) => this.emit('roomUnloaded', { room }),
        onLoadFailed: (room, error) => {
          this.stats.countError('TANDEM_ERR_LOAD_FAILED')
          this.log.error({ room, err: error }, 'document could not be loaded')
        },
      },
    )
    this.api = {
      rooms: this.rooms,
      store,
      authenticate: this.authenticate,
      rate: new KeyedRateLimit({
        messagesPerSecond: this.options.maxApiRequestsPerSecond,
        messageBurst: this.options.maxApiRequestsPerSecond * 2,
        bytesPerSecond: 0,
        byteBurst: 0,
      }),
      maxBodyBytes: this.options.maxApiBodyBytes,
      maxRoomNameBytes: this.options.maxRoomNameBytes,
      allowedOrigins: this.options.allowedOrigins,
      dom: () => {
        this.dom ??= createNodeDom()
        return this.dom
      },
      clientAddress: (req) => clientAddress(req, this.options.trustProxy),
    }
    this.http.on('upgrade', this.onUpgrade)
    if (this.ownsHttp) {
      this.http.on('request', (req, res) => {
        this.handleRequest(req, res).then(
          (handled) => {
            if (!handled) sendJson(res, 404, { error: 'not found' })
          },
          (error: unknown) => {
            this.log.error({ err: error, url: req.url }, 'request failed')
            if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
            else res.destroy()
          },
        )
      })
      try {
        await new Promise<void>((resolve, reject) => {
          this.http.once('error', reject)
          this.http.listen(this.options.port, this.options.host, () => {
            this.http.off('error', reject)
            resolve()
          })
        })
      } catch (error) {
        await this.cluster?.stop()
        await store.close()
        throw error
      }
    }
    this.heartbeat = setInterval(this.checkHeartbeats, this.options.pingIntervalMs)
    const address = this.http.address() as AddressInfo | null
    const bound = { host: address?.address ?? this.options.host, port: address?.port ?? 0 }
    this.log.info(bound, 'listening')
    if (this.authenticate === null && this.ownsHttp && !isLoopback(this.options.host)) {
      this.log.warn(
        { host: this.options.host },
        'auth is off and the server listens beyond loopback: anyone who reaches it can read and edit every document (set --auth-secret)',
      )
    }
    return bound
  }

  private async openStore(): Promise<DocStore> {
    const { redisUrl } = this.options
    if (redisUrl !== null) {
      let lastWarning = 0
      const store = await openRedisStore({
        url: redisUrl,
        nodeId: this.options.nodeId,
        // node-redis reports every failed reconnection attempt: one line per 30 s is enough.
        onConnectionError: (error) => {
          this.stats.countError('TANDEM_ERR_REDIS_CONNECTION')
          if (performance.now() - lastWarning < 30_000) return
          lastWarning = performance.now()
          this.log.warn({ err: error, redis: redactUrl(redisUrl) }, 'Redis connection lost; reconnecting')
        },
      })
      try {
        this.cluster = await openCluster({
          store,
          log: this.log,
          stats: this.stats,
          fsync: this.options.fsync,
          onDeleted: (name) => void this.rooms?.evict(name, documentDeleted()),
        })
      } catch (error) {
        await store.close()
        throw error
      }
      this.log.info({ redis: redactUrl(redisUrl), node: store.nodeId }, 'cluster mode: documents in Redis')
      return store
    }
    return openLevelStore({
      dir: this.options.dataDir,
      fsync: this.options.fsync,
      commitIntervalMs: this.options.commitIntervalMs,
      onBatch: ({ stage, durationMs, error }) => {
        this.metrics.observeWrite(stage, durationMs, error !== null)
        if (error) this.stats.countError(error.code)
      },
    })
  }

  private health(): { ok: boolean } & Record<string, unknown> {
    const redis = this.cluster?.status() ?? { ok: true }
    return {
      ok: this.closing === null && redis.ok,
      status: this.closing !== null ? 'closing' : redis.ok ? 'ok' : 'redis-unavailable',
      ...(redis.reason === undefined ? {} : { reason: redis.reason }),
      ...(this.cluster ? { node: this.cluster.nodeId } : {}),
      rooms: this.rooms?.size ?? 0,
      connections: this.stats.connections,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    }
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    let target: UpgradeTarget
    // Read only when counted: once read, the socket keeps its own copy (a megabyte per 10,000).
    const address = this.options.maxConnectionsPerIp > 0 ? clientAddress(req, this.options.trustProxy) : null
    try {
      if (this.closing) throw new HttpError('TANDEM_ERR_SHUTTING_DOWN', 503, 'server is shutting down')
      target = parseUpgradeTarget(req.url, this.options.maxRoomNameBytes)
      checkOrigin(req, this.options.allowedOrigins)
      if (address !== null && !this.perIp.acquire(address)) {
        throw new HttpError(
          'TANDEM_ERR_TOO_MANY_CONNECTIONS',
          429,
          `more than ${this.options.maxConnectionsPerIp} connections from ${address}`,
        )
      }
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      this.stats.countError(error.code)
      this.log.info(
        {
          url: req.url,
          address: address ?? clientAddress(req, this.options.trustProxy),
          status: error.status,
          code: error.code,
        },
        error.message,
      )
      refuseUpgrade(socket, error)
      return
    }
    if (address !== null) releaseOnClose(socket, this.perIp, address)
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, target, req, address))
  }

  /** `address`: the peer's, when the upgrade already read it. */
  private onConnection(
    ws: WebSocket,
    target: UpgradeTarget,
    req: IncomingMessage,
    address: string | null,
  ): void {
    const rooms = this.rooms
    if (!rooms || this.closing) {
      ws.close(CloseCode.GoingAway, 'server is shutting down')
      return
    }
    const options = this.options
    const connection = new Connection(
      ws,
      target.room,
      target.params.get('saved') === '1',
      this.connectionOptions,
    )
    this.connections.add(connection)
    this.stats.connections++
    ws.on('error', this.onSocketError)
    this.emit('connection', { room: target.room })
    if (this.authenticate === null) {
      rooms.join(connection)
      return
    }
    // Messages wait in the connection's bounded queue meanwhile; the room is not even loaded
    // for someone who may not open it.
    const request = {
      room: target.room,
      token: tokenOf(target.params, req.headers),
      headers: req.headers,
      remoteAddress: address ?? clientAddress(req, this.options.trustProxy),
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConnectionError(
              'TANDEM_ERR_AUTH_TIMEOUT',
              CloseCode.TryAgainLater,
              'authentication timed out',
            ),
          ),
        options.handshakeTimeoutMs,
      )
    })
    Promise.race([this.authenticate(request), timeout])
      .then(
        (access) => {
          if (!connection.isOpen || this.closing) return
          connection.grant(access)
          if (connection.isOpen) rooms.join(connection)
        },
        (error: unknown) => {
          connection.fail(
            error instanceof ConnectionError ? error : AuthError.unauthorized('authentication failed'),
          )
        },
      )
      .finally(() => clearTimeout(timer))
  }

  /** Shared by every connection (per-socket copies would cost memory at 10 000 sockets). */
  private get connectionOptions(): ConnectionOptions {
    this.sharedConnectionOptions ??= {
      maxBufferedBytes: this.options.maxBufferedBytes,
      maxUnsavedBytes: this.options.maxUnsavedBytes,
      maxQueuedMessages: this.options.maxQueuedMessages,
      rateLimits: rateLimitsOf(this.options),
      stats: this.stats,
      log: this.log,
      framer: new Framer(),
      onClose: (connection, code) => {
        this.connections.delete(connection)
        this.stats.connections--
        this.rooms?.leave(connection)
        this.emit('disconnection', { room: connection.room, code })
      },
    }
    return this.sharedConnectionOptions
  }

  private readonly onSocketError = (error: Error & { code?: string }): void => {
    // ws has already closed the socket with the matching code (1009 for an oversized message …).
    this.stats.countError(error.code ?? 'WS_ERR')
    this.log.info({ code: error.code }, error.message)
  }

  private readonly checkHeartbeats = (): void => {
    for (const connection of this.connections) connection.heartbeat()
  }

  private async shutdown(restart: boolean): Promise<void> {
    await this.starting?.catch(() => undefined)
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.http.off('upgrade', this.onUpgrade)
    const httpClosed = this.ownsHttp && this.http.listening ? new Promise((r) => this.http.close(r)) : null
    const code = restart ? CloseCode.Restart : CloseCode.GoingAway
    const reason = restart ? 'server restarting' : 'server shutting down'
    for (const connection of this.connections) {
      connection.close(code, reason)
      this.rooms?.leave(connection)
    }
    await this.rooms?.drain()
    await this.builder.close()
    await this.cluster?.stop()
    await this.store?.close()
    await this.dom?.close()
    // Peers had the time of the flush to answer the close frame; drop the rest.
    for (const connection of this.connections) connection.socket.terminate()
    this.http.closeIdleConnections?.()
    await httpClosed
    this.log.info('closed')
  }
}

/**
 * Creates a sync server. Throws an OptionsError naming the first invalid option. Nothing is opened
 * until `listen()`.
 */
export function createServer(options: ServerOptions = {}): TandemServer {
  return new TandemServer(options)
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/**
 * Frees the address's connection slot when the raw socket closes (with its WebSocket, or without
 * one if the handshake fails). A function of its own so the listener keeps only what it needs
 * alive, not the upgrade request.
 */
function releaseOnClose(socket: Duplex, counter: ConnectionCounter, address: string): void {
  socket.once('close', () => counter.release(address))
}

/** Bursts of twice the message rate, and of one largest message more than the byte rate. */
function rateLimitsOf(options: ResolvedOptions): RateLimits | null {
  const { maxMessagesPerSecond: messages, maxBytesPerSecond: bytes, maxMessageBytes } = options
  if (messages === 0 && bytes === 0) return null
  return {
    messagesPerSecond: messages,
    messageBurst: messages * 2,
    bytesPerSecond: bytes,
    byteBurst: bytes + maxMessageBytes,
  }
}
