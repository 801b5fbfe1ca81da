import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import { CloseCode, ConnectionError, closeReason } from './errors.js'
import type { Stats } from './metrics.js'
import { decodeMessage, type Message } from './protocol.js'

/** What a connection hands its decoded messages to (its room, once loaded). */
export interface MessageSink {
  receive(connection: Connection, message: Message): void
}

export interface ConnectionOptions {
  readonly room: string
  /** The client asked for "saved" acknowledgements (`?saved=1`). */
  readonly wantsSaved: boolean
  readonly maxBufferedBytes: number
  readonly maxQueuedMessages: number
  readonly stats: Stats
  readonly log: Logger
}

const settled: Promise<void> = Promise.resolve()

/**
 * One socket: decodes its frames, queues them until its room is ready, sends with a bound on the
 * send buffer, and closes with a precise code. Knows nothing of documents.
 */
export class Connection {
  readonly room: string
  readonly wantsSaved: boolean
  /** Awareness client IDs this connection announced; removed when it leaves. */
  readonly awarenessIds = new Set<number>()
  /** The store write of the last document update received here (for "saved" acks). */
  lastWrite: Promise<void> = settled
  /** Set by the heartbeat: false once a ping is outstanding. */
  alive = true
  private sink: MessageSink | null = null
  private queued: Message[] = []
  private closed = false

  constructor(
    readonly socket: WebSocket,
    private readonly options: ConnectionOptions,
  ) {
    this.room = options.room
    this.wantsSaved = options.wantsSaved
    socket.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary))
    socket.on('pong', () => {
      this.alive = true
    })
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN
  }

  /** Starts delivering messages to `sink`, first the ones queued while it loaded. */
  attach(sink: MessageSink): void {
    this.sink = sink
    const queued = this.queued
    this.queued = []
    for (const message of queued) {
      if (!this.isOpen) return
      this.deliver(message)
    }
  }

  /** Sends one binary frame; closes a consumer whose send buffer is over the limit. */
  send(frame: Uint8Array): void {
    if (!this.isOpen) return
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.fail(
        new ConnectionError(
          'TANDEM_ERR_SLOW_CONSUMER',
          CloseCode.TryAgainLater,
          'send buffer full: reconnect and resync',
        ),
      )
      return
    }
    this.options.stats.messagesOut++
    this.options.stats.bytesOut += frame.byteLength
    this.socket.send(frame, { binary: true })
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
    this.options.log.info({ room: this.room, code: error.code, closeCode: error.closeCode }, error.message)
    this.close(error.closeCode, error.message)
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    this.options.stats.messagesIn++
    this.options.stats.bytesIn += data.byteLength
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
      if (!(error instanceof ConnectionError)) throw error
      this.fail(error)
    }
  }
}
