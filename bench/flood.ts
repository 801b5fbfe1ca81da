/**
 * A write flood (issue 17): one writer sends 64 KB updates into one small document at a set rate
 * (each replaces the text of the one before, so the document itself stays small: with gc on, what
 * it deleted is dropped) while an observer receives them, for a bounded time. The server's memory
 * is read by its probe (bench/probe.ts) after two forced full GCs: before the flood, right after
 * every update was acknowledged, and once more after a pause. The writer asks for Tandem's "saved"
 * acknowledgements (`?saved=1`); nothing acknowledged may be missing at a fresh client, live and
 * after a SIGKILL and restart.
 */
import * as decoding from 'lib0/decoding'
import { WebSocket } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { encodeSaved, encodeSyncStep1, encodeSyncStep2, encodeUpdate, MessageType } from '../protocol/wire.js'
import type { MemoryStats } from './probe-link.js'
import { removeDataDir, startTarget } from './proc.js'
import { connected, type ScenarioResult, until } from './scenarios.js'
import { ratio, round } from './stats.js'

const MB = 1024 * 1024
const CHUNK_BYTES = 64 * 1024
/** A "saved" marker after every this many updates. */
const MARK_EVERY = 8
/** The writer stops sending while this much is queued on its socket (the server reads slower). */
const MAX_CLIENT_BUFFERED_BYTES = 8 * MB
const SETTLE_TIMEOUT_MS = 120_000
/** The second reading comes this long after the first (at most; a short flood waits as long as it ran). */
const MAX_PAUSE_MS = 5_000
/** The server's memory is sampled this often during the flood. */
const PEEK_EVERY_MS = 500
const ROOM = 'flood'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const remote = Symbol('remote')

/** A y-websocket writer that also sends "saved" markers and reads their acknowledgements. */
class Writer {
  readonly doc = new Y.Doc()
  readonly ws: WebSocket
  readonly synced: Promise<void>
  /** Marker → the writer's clock when it was sent; the latest acknowledged marker. */
  private readonly markers = new Map<number, number>()
  private nextMarker = 1
  ackedMarker = 0
  closeCode: number | null = null

  constructor(url: string) {
    this.ws = new WebSocket(`${url}/${ROOM}?saved=1`, { perMessageDeflate: false })
    this.ws.binaryType = 'nodebuffer'
    let resolveSynced: () => void = () => undefined
    this.synced = new Promise((resolve) => {
      resolveSynced = resolve
    })
    this.ws.on('open', () => this.ws.send(encodeSyncStep1(Y.encodeStateVector(this.doc))))
    this.ws.on('close', (code) => {
      this.closeCode = code
    })
    this.ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.length))
      const type = decoding.readVarUint(decoder)
      if (type === MessageType.Saved) {
        this.ackedMarker = Math.max(this.ackedMarker, decoding.readVarUint(decoder))
        return
      }
      if (type !== MessageType.Sync) return
      const syncType = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (syncType === syncProtocol.messageYjsSyncStep1) {
        this.send(encodeSyncStep2(Y.encodeStateAsUpdate(this.doc, payload)))
        return
      }
      Y.applyUpdate(this.doc, payload, remote)
      if (syncType === syncProtocol.messageYjsSyncStep2) resolveSynced()
    })
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== remote) this.send(encodeUpdate(update))
    })
  }

  get clock(): number {
    return Y.getState(this.doc.store, this.doc.clientID)
  }

  /** The writer's clock up to which the server acknowledged everything as saved. */
  get ackedClock(): number {
    return this.markers.get(this.ackedMarker) ?? 0
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN
  }

  /** Replaces the text with `chunk`: one update of about its size. */
  replace(chunk: string): void {
    const text = this.doc.getText('t')
    this.doc.transact(() => {
      text.delete(0, text.length)
      text.insert(0, chunk)
    })
  }

  mark(): number {
    const marker = this.nextMarker++
    this.markers.set(marker, this.clock)
    this.send(encodeSaved(marker))
    return marker
  }

  close(): void {
    this.ws.terminate()
  }

  private send(frame: Uint8Array): void {
    if (this.open) this.ws.send(frame)
  }
}

/** Random letters: no compression flatters the store's figures. */
function chunks(count: number): string[] {
  return Array.from({ length: count }, () => {
    const codes = new Uint8Array(CHUNK_BYTES)
    for (let i = 0; i < codes.length; i++) codes[i] = 97 + Math.floor(Math.random() * 26)
    return Buffer.from(codes).toString('latin1')
  })
}

export interface FloodOptions {
  readonly durationMs: number
  /** Offered rate, MB (2^20 bytes) of updates per second. */
  readonly rateMBps: number
}

export async function flood(options: FloodOptions): Promise<ScenarioResult> {
  let server = await startTarget('tandem', { probe: true })
  const dataDir = server.dataDir as string
  const pool = chunks(8)
  const maxUpdates = Math.ceil((options.rateMBps * MB * options.durationMs) / 1000 / CHUNK_BYTES)
  try {
    const writer = new Writer(server.url)
    await writer.synced
    writer.replace('a small document')
    const observer = await connected(server.url, ROOM, false)
    const probe = server.probe as NonNullable<typeof server.probe>
    await sleep(1000)
    const before = await probe.memory()

    // The flood: updates sent on a schedule, never more than the rate, never past the buffer bound.
    const bytesPerMs = (options.rateMBps * MB) / 1000
    const started = performance.now()
    let updates = 0
    let bufferFullMs = 0
    // Where the memory is at its highest (read without a GC, twice a second).
    let highest: MemoryStats | null = null
    const peeks: Promise<void>[] = []
    let nextPeek = started
    while (writer.open && updates < maxUpdates && performance.now() - started < options.durationMs) {
      const due = (performance.now() - started) * bytesPerMs
      while (writer.open && updates < maxUpdates && updates * CHUNK_BYTES < due) {
        if (writer.ws.bufferedAmount > MAX_CLIENT_BUFFERED_BYTES) break
        writer.replace(pool[updates % pool.length] as string)
        updates++
        if (updates % MARK_EVERY === 0) writer.mark()
      }
      const tick = performance.now()
      if (tick >= nextPeek) {
        nextPeek = tick + PEEK_EVERY_MS
        peeks.push(
          probe.peek().then((m) => {
            if (!highest || m.rssBytes > highest.rssBytes) highest = m
          }),
        )
      }
      await sleep(5)
      if (writer.ws.bufferedAmount > MAX_CLIENT_BUFFERED_BYTES) bufferFullMs += performance.now() - tick
    }
    const floodSeconds = (performance.now() - started) / 1000
    const peakRss = server.peakRssBytes()
    await Promise.all(peeks)
    const last = writer.open ? writer.mark() : writer.ackedMarker
    const settleStarted = performance.now()
    await until(
      () => writer.ackedMarker >= last || !writer.open,
      SETTLE_TIMEOUT_MS,
      'the flood to be acknowledged',
    )
    const settleSeconds = (performance.now() - settleStarted) / 1000
    const after = await probe.memory()
    const pauseMs = Math.min(MAX_PAUSE_MS, options.durationMs)
    await sleep(pauseMs)
    const paused = await probe.memory()

    // Nothing acknowledged lost: a fresh client now, and another after SIGKILL and a restart.
    const missing = async (url: string) => {
      const reader = await connected(url, ROOM)
      const clock = Y.getState(reader.doc.store, writer.doc.clientID)
      const same = reader.doc.getText('t').toString() === writer.doc.getText('t').toString()
      reader.close()
      return { sent: writer.clock - clock, acked: Math.max(0, writer.ackedClock - clock), same }
    }
    const live = await missing(server.url)
    const closeCode = writer.closeCode
    const receivedBytes = observer.bytesIn
    writer.close()
    observer.close()
    await server.stop('SIGKILL')
    server = await startTarget('tandem', { dataDir, probe: true })
    const restarted = await missing(server.url)

    const memoryRow = (point: string, m: MemoryStats) => ({
      point,
      'RSS MB': round(m.rssBytes / MB),
      'anonymous MB': round(m.rssAnonBytes / MB),
      'mapped files MB': round(m.rssFileBytes / MB),
      'heap used MB': round(m.heapUsedBytes / MB),
      'heap total MB': round(m.heapTotalBytes / MB),
      'external MB': round(m.externalBytes / MB),
      'array buffers MB': round(m.arrayBuffersBytes / MB),
    })
    const growth = round((after.rssBytes - before.rssBytes) / MB)
    const sentMB = (updates * CHUNK_BYTES) / MB
    return {
      name:
        `flood: ${updates} updates of 64 KB into one small document in ${round(floodSeconds)} s ` +
        `(${round(sentMB / floodSeconds)} MB/s offered ${options.rateMBps}; writer held back by its ` +
        `${MAX_CLIENT_BUFFERED_BYTES / MB} MB socket buffer ${Math.round(bufferFullMs)} ms; observer received ` +
        `${round(receivedBytes / MB)} MB; all acknowledged ${round(settleSeconds, 2)} s after the flood` +
        `${closeCode === null ? '' : `; writer closed with ${closeCode}`})`,
      rows: [
        memoryRow('before the flood (GC)', before),
        { point: 'peak during the flood', 'RSS MB': round(peakRss / MB) },
        ...(highest ? [memoryRow('highest of the samples during the flood (no GC)', highest)] : []),
        memoryRow('after the flood, all acknowledged (GC)', after),
        memoryRow(`${pauseMs / 1000} s later (GC)`, paused),
      ],
      checks: [
        {
          what: 'server RSS after the flood − before, MB (both after a forced GC)',
          value: growth,
          target: '≤ 64',
          ok: growth <= 64,
        },
        {
          what: 'acknowledged updates (clocks) missing at a fresh client: live, after SIGKILL',
          value: live.acked + restarted.acked,
          target: '0',
          ok: live.acked === 0 && restarted.acked === 0 && writer.ackedClock > 0,
        },
        {
          what: 'sent updates (clocks) missing at a fresh client, live; same text live and after restart',
          value: live.sent,
          target: '0; yes',
          ok: live.sent === 0 && live.same && restarted.same,
        },
        {
          what: 'achieved ÷ offered rate',
          value: ratio(sentMB / floodSeconds, options.rateMBps),
          target: '(report)',
          ok: true,
        },
      ],
    }
  } finally {
    await server.stop()
    removeDataDir(dataDir)
  }
}
