/**
 * A light client that speaks y-protocols like a browser tab: its own Y.Doc and Awareness, sync step
 * 1/2, updates and cursor moves. A "present" client (of a large room) receives everything but
 * applies nothing, so the load process stays lighter than the server. It also speaks Hocuspocus's
 * framing of the same messages (document name first, a token message to open the document), for
 * the comparison with that peer.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'

/**
 * Received updates and awareness, applied together once this turn's reads are done. The clients
 * share one thread where each browser has its own: an arrival is timed when its message is read,
 * not after every other client's work that came in the same read.
 */
const toApply: Array<() => void> = []
function applyLater(apply: () => void): void {
  if (toApply.length === 0) setImmediate(applyAll)
  toApply.push(apply)
}
function applyAll(): void {
  for (const apply of toApply.splice(0)) apply()
}

const SYNC = 0
const AWARENESS = 1
/** Hocuspocus's message types: a token opens a document (and is answered with this type too). */
const HOCUSPOCUS_AUTH = 2
const HOCUSPOCUS_TOKEN = 0

/** Where every client of the load process reports the document updates it sends and receives. */
export interface Ledger {
  /** A local edit left its author. */
  sent(update: Uint8Array, atMs: number, by: BenchClient): void
  /** A document update (one edit, or several a server merged) reached `by`. */
  received(update: Uint8Array, atMs: number, by: BenchClient): void
}

/** The first struct of an update (v1 layout: clients, structs, client, clock, …), read in place. */
export function firstStruct(update: Uint8Array) {
  const decoder = decoding.createDecoder(update)
  const clients = decoding.readVarUint(decoder)
  const structs = decoding.readVarUint(decoder)
  const author = decoding.readVarUint(decoder)
  return { clients, structs, author, clock: decoding.readVarUint(decoder) }
}

/** Per author, the clocks `from` (inclusive) to `to` (exclusive) an update carries. */
export function clockRanges(update: Uint8Array): { author: number; from: number; to: number }[] {
  const { from, to } = Y.parseUpdateMeta(update)
  return [...from].map(([author, start]) => ({ author, from: start, to: to.get(author) ?? start }))
}

export interface ClientOptions {
  readonly url: string
  readonly room: string
  /** Apply received updates and awareness (a full participant) or only count them. */
  readonly apply: boolean
  readonly ledger: Ledger
  /** Hocuspocus frames every message with the document's name (default: y-websocket's framing). */
  readonly hocuspocus?: boolean
}

export class BenchClient {
  readonly doc = new Y.Doc()
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  readonly ws: WebSocket
  messagesIn = 0
  bytesIn = 0
  private readonly opened: Promise<void>
  private syncedResolve: (() => void) | null = null
  readonly synced: Promise<void>

  constructor(private readonly options: ClientOptions) {
    this.synced = new Promise((resolve) => {
      this.syncedResolve = resolve
    })
    this.ws = new WebSocket(`${options.url}/${encodeURIComponent(options.room)}`, {
      perMessageDeflate: false,
    })
    this.ws.binaryType = 'nodebuffer'
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.ws.on('message', (data: Buffer) =>
      this.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.length)),
    )
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === this) return
      const at = performance.now()
      const sent = this.send((e) => {
        encoding.writeVarUint(e, SYNC)
        syncProtocol.writeUpdate(e, update)
      })
      if (sent) this.options.ledger.sent(update, at, this)
    })
    this.awareness.on(
      'update',
      ({ added, updated }: { added: number[]; updated: number[] }, origin: unknown) => {
        if (origin === this) return
        const changed = [...added, ...updated]
        this.send((e) => {
          encoding.writeVarUint(e, AWARENESS)
          encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
        })
      },
    )
  }

  /** Opens the socket and sends sync step 1 (and the initial awareness), like y-websocket. */
  async connect(expectServerSync: boolean): Promise<void> {
    await this.opened
    if (this.options.hocuspocus) {
      this.send((e) => {
        encoding.writeVarUint(e, HOCUSPOCUS_AUTH)
        encoding.writeVarUint(e, HOCUSPOCUS_TOKEN)
        encoding.writeVarString(e, '')
      })
    }
    this.send((e) => {
      encoding.writeVarUint(e, SYNC)
      syncProtocol.writeSyncStep1(e, this.doc)
    })
    this.awareness.setLocalState({ user: { name: `bench-${this.doc.clientID}` } })
    // A relay has no state to send back: the client is in sync once connected.
    if (!expectServerSync) this.syncedResolve?.()
  }

  /** Types `text` at a random place and moves the cursor there. */
  type(text: string): void {
    const t = this.doc.getText('t')
    const at = Math.floor(Math.random() * (t.length + 1))
    t.insert(at, text)
    this.moveCursor(at + text.length)
  }

  moveCursor(at = Math.floor(Math.random() * 1000)): void {
    this.awareness.setLocalStateField('cursor', { anchor: at, head: at })
  }

  close(): void {
    this.awareness.destroy()
    this.ws.terminate()
  }

  /** Sends one message; false when the socket is not open. */
  private send(write: (e: encoding.Encoder) => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false
    const e = encoding.createEncoder()
    if (this.options.hocuspocus) encoding.writeVarString(e, this.options.room)
    write(e)
    this.ws.send(encoding.toUint8Array(e))
    return true
  }

  private onMessage(message: Uint8Array): void {
    this.messagesIn++
    this.bytesIn += message.byteLength
    const decoder = decoding.createDecoder(message)
    if (this.options.hocuspocus) decoding.readVarString(decoder)
    const type = decoding.readVarUint(decoder)
    if (type === AWARENESS) {
      if (this.options.apply) {
        const update = decoding.readVarUint8Array(decoder)
        applyLater(() => awarenessProtocol.applyAwarenessUpdate(this.awareness, update, this))
      }
      return
    }
    if (type !== SYNC) return
    const syncType = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (syncType === syncProtocol.messageYjsSyncStep1) {
      // Through a relay every peer would answer every newcomer; only answer with news.
      const reply = Y.encodeStateAsUpdate(this.doc, payload)
      if (reply.byteLength > 2) {
        this.send((e) => {
          encoding.writeVarUint(e, SYNC)
          encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep2)
          encoding.writeVarUint8Array(e, reply)
        })
      }
      return
    }
    if (syncType === syncProtocol.messageYjsSyncStep2) {
      if (this.options.apply) {
        // In the order they came, like a stock client: updates sent before the step 2 first.
        applyAll()
        Y.applyUpdate(this.doc, payload, this)
      }
      this.syncedResolve?.()
      return
    }
    // An update: someone else's edits (Hocuspocus also sends a client's own back).
    this.options.ledger.received(payload, performance.now(), this)
    if (this.options.apply) applyLater(() => Y.applyUpdate(this.doc, payload, this))
  }
}
