import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { Sender, type WebSocket } from 'ws'
import type { Access } from './auth.js'
import { CloseCode, ConnectionError, closeReason } from './errors.js'
import { RateLimit, type RateLimits } from './limits.js'
import type { Stats } from './metrics.js'
import { decodeMessage, type Message } from './protocol.js'

/** What a connection hands its decoded messages to (its room, once loaded). */
export interface MessageSink {
  receive(connection: Connection, message: Message): void
}

/** What every connection of a server shares: limits, counters, logger, and who to tell of a close. */
export interface ConnectionOptions {
  readonly maxBufferedBytes: number
  /** Back-pressure: the socket is not read while more of what it sent waits for a write. */
  readonly maxUnsavedBytes: number
  readonly maxQueuedMessages: number
  /** Per-connection rates; null when both are off. */
  readonly rateLimits: RateLimits | null
  readonly stats: Stats
  readonly log: Logger
  readonly framer: Framer
  /** Called once when the socket has closed, with the close code. */
  readonly onClose: (connection: Connection, code: number) => void
}

const CONNECTION = Symbol('tandem.connection')
/** A socket that knows its connection, for the listeners all sockets share. */
type Tagged = WebSocket & { [CONNECTION]: Connection }
const connectionOf = (socket: WebSocket) => (socket as Tagged)[CONNECTION]
/** Shared by every connection of a server without auth (one object, not one per socket). */
const ANONYMOUS: Access = Object.freeze({ user: Object.freeze({ id: 'anonymous' }), mode: 'rw' })
const BINARY_FRAME = { fin: true, opcode: 2, mask: false, rsv1: false } as const

/** Payloads up to this size are copied behind their header, so that a burst is one buffer. */
const MAX_COPIED_PAYLOAD_BYTES = 16 * 1024

/**
 * WebSocket frames of payloads, as ws would write them (final, unmasked binary frames: the server
 * negotiates no extension), joined into one buffer so that a socket gets one plain write, not a
 * vectored one of a header and a payload each. It keeps what it made last: a broadcast sends the
 * same payloads to every socket in turn, so they are framed and joined once, not once per socket.
 * Payloads over MAX_COPIED_PAYLOAD_BYTES are not copied (nor kept). One per server, shared by its
 * connections.
 */
export class Framer {
  /** The payloads framed last and their frames (none when one was large: nothing large is kept). */
  private payloads: readonly Uint8Array[] = []
  private frames: readonly Uint8Array[] = []
  private readonly one: Uint8Array[] = []

  /** The frames of `payloads`, in order: one buffer, or a header and a payload each when one is large. */
  of(payloads: readonly Uint8Array[]): readonly Uint8Array[] {
    if (sameItems(payloads, this.payloads)) return this.frames
    const parts: Uint8Array[] = []
    let bytes = 0
    let large = false
    for (const payload of payloads) {
      const header = Sender.frame(payload, BINARY_FRAME)[0] as Uint8Array
      parts.push(header, payload)
      bytes += header.byteLength + payload.byteLength
      large ||= payload.byteLength > MAX_COPIED_PAYLOAD_BYTES
    }
    if (large) {
      this.payloads = []
      this.frames = []
      return parts
    }
    this.payloads = [...payloads]
    this.frames = [Buffer.concat(parts, bytes)]
    return this.frames
  }

  /** The frame of `payload` alone (as `of`). */
  ofOne(payload: Uint8Array): readonly Uint8Array[] {
    this.one.push(payload)
    const frames = this.of(this.one)
    this.one.pop()
    return frames
  }
}

function sameItems(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * One socket: decodes its frames, queues them until its room is ready, sends with a bound on the
 * send buffer, and closes with a precise code. Knows nothing of documents.
 */
export class Connection {
  readonly room: string
  readonly wantsSaved: boolean
  /** When a frame was last sent here (performance.now()). */
  lastSentAt = 0
  /** Who this is and what they may do; without auth, everyone may read and write. */
  access: Access = ANONYMOUS
  /** Rejections already logged for this connection (each kind is logged once, counted always). */
  private logged: Set<string> | null = null
  private sink: MessageSink | null = null
  /** Messages that arrived before the room was ready (null once it is). */
  private queued: Message[] | null = []
  private closed = false
  /** Between `cork()` and `uncork()`: the payloads sent wait in `burst`, to be written together. */
  private corked = false
  private burst: Uint8Array[] | null = null
  private readonly rate: RateLimit | null
  private expiry: NodeJS.Timeout | null = null
  /** False while a heartbeat ping is unanswered. */
  private alive = true
  /** Pongs received, and the pending `probe()`. */
  private pongs = 0
  private probeTimer: NodeJS.Timeout | null = null
  /** Bytes of what this connection sent that wait for a write (see `holdUntil`). */
  private unsaved = 0
  /** Its socket is not read (back-pressure). */
  private paused = false

  /**
   * @param room the decoded room name
   * @param wantsSaved the client asked for "saved" acknowledgements (`?saved=1`)
   * @param options shared by all connections of the server (one object, not one per socket)
   */
  constructor(
    readonly socket: WebSocket,
    room: string,
    wantsSaved: boolean,
    private readonly options: ConnectionOptions,
  ) {
    this.room = room
    this.wantsSaved = wantsSaved
    this.rate = options.rateLimits ? new RateLimit(options.rateLimits, performance.now()) : null
    // One set of listeners for every socket, which finds its connection on the socket: three
    // closures per socket would cost a quarter of a kilobyte each at 10,000 sockets.
    ;(socket as Tagged)[CONNECTION] = this
    socket.on('message', Connection.listeners.message)
    socket.on('pong', Connection.listeners.pong)
    socket.on('close', Connection.listeners.close)
  }

  private static readonly listeners = {
    message(this: WebSocket, data: Buffer, isBinary: boolean): void {
      connectionOf(this).onFrame(data, isBinary)
    },
    pong(this: WebSocket): void {
      const connection = connectionOf(this)
      connection.alive = true
      connection.pongs++
    },
    close(this: WebSocket, code: number): void {
      const connection = connectionOf(this)
      connection.closed = true
      connection.unpause()
      if (connection.expiry) clearTimeout(connection.expiry)
      if (connection.probeTimer) clearTimeout(connection.probeTimer)
      connection.options.onClose(connection, code)
    },
  }

  get readOnly(): boolean {
    return this.access.mode === 'ro'
  }

  /** Grants `access`; a connection whose access expires is closed with 4401 at that moment. */
  grant(access: Access): void {
    this.access = access
    if (access.expiresAt !== undefined) this.expireAt(access.expiresAt)
  }

  private expireAt(epochMs: number): void {
    // Timers hold at most ~24.8 days: wait in steps until the time has come.
    const delay = Math.min(epochMs - Date.now(), 2 ** 31 - 1)
    if (delay <= 0) {
      this.fail(new ConnectionError('TANDEM_ERR_UNAUTHORIZED', CloseCode.Unauthorized, 'token expired'))
      return
    }
    this.expiry = setTimeout(() => this.expireAt(epochMs), delay)
  }

  /**
   * Counts something of this connection's that was refused while the connection stays open, and
   * logs it the first time it happens on this connection.
   */
  noteRefused(code: ConnectionError['code'], message: string): void {
    this.options.stats.countError(code)
    this.logged ??= new Set()
    if (this.logged.has(code)) return
    this.logged.add(code)
    this.options.log.info({ room: this.room, user: this.access.user.id, code }, message)
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN
  }

  /**
   * Stops delivering messages: they wait, `unread` first, until the next `attach` (a room that was
   * serving this connection from stored bytes hands it to the room built for its document).
   */
  detach(unread: readonly Message[]): void {
    this.sink = null
    this.queued = [...unread]
  }

  /** Starts delivering messages to `sink`, first the ones queued while it loaded. */
  attach(sink: MessageSink): void {
    this.sink = sink
    const queued = this.queued ?? []
    this.queued = null
    for (let i = 0; i < queued.length; i++) {
      if (!this.isOpen) return
      if (this.sink !== sink) {
        // Detached by one of them: the rest wait, in order, behind what it kept.
        this.queued = [...(this.queued ?? []), ...queued.slice(i)]
        return
      }
      this.deliver(queued[i] as Message)
    }
  }

  /**
   * Sends one binary frame; closes a consumer whose send buffer is over the limit. Written to the
   * socket as ws would write it (see Framer): ws would add only the header and keep no queue of
   * its own, and its send path costs more per call than the write itself.
   */
  send(payload: Uint8Array): void {
    if (!this.isOpen || (!this.corked && this.overLimit())) return
    this.lastSentAt = performance.now()
    this.options.stats.messagesOut++
    this.options.stats.bytesOut += payload.byteLength
    if (this.corked) (this.burst as Uint8Array[]).push(payload)
    else this.write(this.options.framer.ofOne(payload))
  }

  /**
   * Holds the frames sent until `uncork()` and then writes them together, with one system call:
   * the frames of a room's burst reach every socket of the room as one buffer, joined once.
   */
  cork(): void {
    // The frames of one burst are counted in the send buffer before any is written: check the
    // limit once, before the burst, or every burst would look like a slow consumer.
    if (!this.isOpen || this.overLimit()) return
    this.corked = true
    this.burst ??= []
  }

  uncork(): void {
    if (!this.corked) return
    this.corked = false
    const burst = this.burst as Uint8Array[]
    if (burst.length > 0 && this.isOpen) this.write(this.options.framer.of(burst))
    // Emptied by pop, which keeps the array's storage: `length = 0` would free it, and every
    // burst of every socket would allocate it again.
    while (burst.length > 0) burst.pop()
  }

  private write(frames: readonly Uint8Array[]): void {
    const raw = this.raw
    if (frames.length === 1) {
      raw.write(frames[0] as Uint8Array)
      return
    }
    raw.cork()
    for (const frame of frames) raw.write(frame)
    raw.uncork()
  }

  /** ws's underlying socket, set once the upgrade is done (before the WebSocket is open). */
  private get raw(): Socket {
    return (this.socket as unknown as { _socket: Socket })._socket
  }

  /** Closes a consumer whose send buffer is over the limit (it will reconnect and resync). */
  private overLimit(): boolean {
    // ws's bufferedAmount is this plus what its sender queues, which it never does here (see send).
    if (this.raw.writableLength <= this.options.maxBufferedBytes) return false
    this.fail(
      new ConnectionError(
        'TANDEM_ERR_SLOW_CONSUMER',
        CloseCode.TryAgainLater,
        'send buffer full: reconnect and resync',
      ),
    )
    return true
  }

  /**
   * Back-pressure: counts `bytes` this connection sent until `written` settles. While more than
   * `maxUnsavedBytes` wait, its socket is not read (TCP then holds the client back, and what it
   * sends waits in the kernel, not here); it is read again once half of them are written.
   */
  holdUntil(written: Promise<void>, bytes: number): void {
    this.unsaved += bytes
    if (!this.paused && !this.closed && this.unsaved > this.options.maxUnsavedBytes) {
      this.paused = true
      this.options.stats.pausedConnections++
      this.socket.pause()
    }
    const done = () => {
      this.unsaved -= bytes
      if (!this.paused || this.unsaved > this.options.maxUnsavedBytes / 2) return
      this.unpause()
      // Its pongs were not read meanwhile either: count it as alive.
      this.alive = true
      this.socket.resume()
    }
    written.then(done, done)
  }

  private unpause(): void {
    if (!this.paused) return
    this.paused = false
    this.options.stats.pausedConnections--
  }

  /**
   * One beat of the server's heartbeat: ends the socket if the peer did not answer the previous
   * beat's ping (it is gone without a close frame: no handshake to wait for), else pings it. A
   * paused socket (its pongs are not read) skips the beat.
   */
  heartbeat(): void {
    if (this.paused) return
    if (!this.alive) {
      this.socket.terminate()
      return
    }
    this.alive = false
    this.socket.ping()
  }

  /**
   * Pings the peer now and ends the socket (without a close handshake, as the heartbeat does) if
   * no pong comes within `withinMs`: for when another socket claims to be this one's client.
   */
  probe(withinMs: number): void {
    // A paused socket's pongs are not read: it is busy sending, not gone.
    if (this.probeTimer || !this.isOpen || this.paused) return
    const pongs = this.pongs
    this.socket.ping()
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null
      if (this.pongs === pongs) this.socket.terminate()
    }, withinMs)
  }

  /** Closes with `code` and `reason`; later calls do nothing. */
  close(code: CloseCode, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.socket.close(code, closeReason(reason))
  }

  /** Ends the connection because of the peer's `error`, logging and counting it once. */
  fail(error: ConnectionError): void {
    if (this.closed) return
    this.options.stats.countError(error.code)
    this.options.log.info(
      { room: this.room, user: this.access.user.id, code: error.code, closeCode: error.closeCode },
      error.message,
    )
    this.close(error.closeCode, error.message)
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    this.options.stats.messagesIn++
    this.options.stats.bytesIn += data.byteLength
    const exceeded = this.rate?.take(data.byteLength, performance.now())
    if (exceeded) {
      const limits = this.options.rateLimits as RateLimits
      const limit = exceeded === 'messages' ? limits.messagesPerSecond : limits.bytesPerSecond
      this.fail(rateLimited(`more than ${limit} ${exceeded} per second`))
      return
    }
    if (!isBinary) {
      this.fail(
        new ConnectionError(
          'TANDEM_ERR_TEXT_FRAME',
          CloseCode.UnsupportedData,
          'text frames are not supported',
        ),
      )
      return
    }
    let message: Message
    try {
      message = decodeMessage(data)
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error
      this.fail(error)
      return
    }
    if (this.sink) {
      this.deliver(message)
      return
    }
    this.queued ??= []
    if (this.queued.length >= this.options.maxQueuedMessages) {
      this.fail(
        new ConnectionError(
          'TANDEM_ERR_QUEUE_FULL',
          CloseCode.TryAgainLater,
          `more than ${this.options.maxQueuedMessages} messages while the document loads`,
        ),
      )
      return
    }
    this.queued.push(message)
  }

  private deliver(message: Message): void {
    try {
      this.sink?.receive(this, message)
    } catch (error) {
      if (error instanceof ConnectionError) {
        this.fail(error)
        return
      }
      // A bug of ours, not the peer's: end this connection only, and say so loudly.
      this.options.log.error({ room: this.room, err: error, kind: message.kind }, 'message handling failed')
      this.fail(new ConnectionError('TANDEM_ERR_INTERNAL', CloseCode.InternalError, 'internal error'))
    }
  }
}

const rateLimited = (message: string) =>
  new ConnectionError('TANDEM_ERR_RATE_LIMIT', CloseCode.PolicyViolation, message)
