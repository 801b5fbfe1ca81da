import * as decoding from 'lib0/decoding'
import { readAuthMessage } from 'y-protocols/auth'
import { messageYjsSyncStep1 } from 'y-protocols/sync'
import type { WebsocketProvider } from 'y-websocket'
import type * as Y from 'yjs'
import { CloseCode, encodeSaved, MessageType } from '../protocol/wire.js'

/** What the status line says; `text` is for people, `kind` for styling and tests. */
export interface Status {
  readonly kind: 'connecting' | 'saving' | 'saved' | 'offline' | 'reconnecting' | 'denied' | 'read-only'
  readonly text: string
}

/** How long local edits may wait before we ask the server whether they are on disk, in ms. */
const MARKER_DELAY_MS = 50
/** Failed attempts after which "Reconnecting" becomes "Offline". */
const OFFLINE_AFTER_ATTEMPTS = 2

/**
 * Tracks whether every local change is on the server's disk, using the server's opt-in "saved"
 * acknowledgement (the provider must connect with `?saved=1`): after local changes, and after each
 * (re)connection's sync, it sends a marker `[100, n]` behind them on the socket; the server answers
 * `[100, n]` once everything this connection sent before the marker is stored. Only then is the
 * document "Saved".
 */
export class SaveTracker {
  private localSeq = 0
  private savedSeq = 0
  private markerSeq = 0
  /** Marker number → the local change count it covers, for markers sent on the current socket. */
  private readonly pending = new Map<number, number>()
  /** Whether this connection's sync (which carries offline edits) has been confirmed stored. */
  private syncSaved = false
  private everConnected = false
  private denied: string | null = null
  private readOnly: string | null = null
  private markerTimer: ReturnType<typeof setTimeout> | null = null
  private current: Status = { kind: 'connecting', text: 'Connecting…' }
  private readonly listeners = new Set<(status: Status) => void>()
  private readonly cleanups: (() => void)[] = []

  constructor(
    doc: Y.Doc,
    private readonly provider: WebsocketProvider,
    /** Origins of updates that are not local edits (the provider itself, the offline cache). */
    private readonly remoteOrigins: ReadonlySet<unknown>,
    /** Whether edits are also kept in this browser (IndexedDB) and so survive a reload offline. */
    private readonly offlineCache: boolean,
  ) {
    const handlers = provider.messageHandlers
    const syncHandler = handlers[MessageType.Sync]
    handlers[MessageType.Sync] = (encoder, decoder, prov, emitSynced, type) => {
      const isStep1 = decoding.peekVarUint(decoder) === messageYjsSyncStep1
      syncHandler?.(encoder, decoder, prov, emitSynced, type)
      // The server's step 1 is answered with our step 2 (everything it lacks, offline edits
      // included) right after this handler returns; a marker queued now goes out behind it.
      if (isStep1) queueMicrotask(() => this.sendMarker())
    }
    handlers[MessageType.Saved] = (_encoder, decoder) => this.onSaved(decoding.readVarUint(decoder))
    handlers[MessageType.Auth] = (_encoder, decoder) =>
      readAuthMessage(decoder, doc, (_doc, reason) => {
        this.readOnly = reason
        this.update()
      })

    const onUpdate = (_update: Uint8Array, origin: unknown) => {
      if (this.remoteOrigins.has(origin)) return
      this.localSeq++
      this.scheduleMarker()
      this.update()
    }
    const onStatus = ({ status }: { status: string }) => {
      if (status === 'connected') this.everConnected = true
      if (status !== 'connected') {
        // Markers on a closed socket are never answered; the next sync re-covers everything.
        this.pending.clear()
        this.syncSaved = false
      }
      this.update()
    }
    const onClosed = (event: { code: number; reason: string }) => {
      this.denied = deniedText(event.code, event.reason)
      this.update()
    }
    const onSync = () => this.update()
    doc.on('update', onUpdate)
    provider.on('status', onStatus)
    provider.on('sync', onSync)
    provider.on('closed', onClosed)
    this.cleanups.push(
      () => doc.off('update', onUpdate),
      () => provider.off('status', onStatus),
      () => provider.off('sync', onSync),
      () => provider.off('closed', onClosed),
    )
    this.update()
  }

  get status(): Status {
    return this.current
  }

  /** Whether some edit made on this page is not yet confirmed on the server's disk. */
  get unsaved(): boolean {
    return this.savedSeq < this.localSeq
  }

  /** Calls `listener` now and on every change; returns the function that stops it. */
  subscribe(listener: (status: Status) => void): () => void {
    this.listeners.add(listener)
    listener(this.current)
    return () => this.listeners.delete(listener)
  }

  destroy(): void {
    if (this.markerTimer !== null) clearTimeout(this.markerTimer)
    this.markerTimer = null
    for (const cleanup of this.cleanups.splice(0)) cleanup()
    this.listeners.clear()
  }

  private scheduleMarker(): void {
    if (this.markerTimer !== null) return
    this.markerTimer = setTimeout(() => {
      this.markerTimer = null
      this.sendMarker()
    }, MARKER_DELAY_MS)
  }

  private sendMarker(): void {
    const ws = this.provider.ws
    if (!this.provider.wsconnected || ws === null || ws.readyState !== ws.OPEN) return
    this.markerSeq++
    this.pending.set(this.markerSeq, this.localSeq)
    ws.send(encodeSaved(this.markerSeq))
  }

  private onSaved(marker: number): void {
    const covered = this.pending.get(marker)
    if (covered === undefined) return
    for (const key of this.pending.keys()) if (key <= marker) this.pending.delete(key)
    this.savedSeq = Math.max(this.savedSeq, covered)
    // Every marker goes out after this connection's sync reply, so any answer confirms it.
    this.syncSaved = true
    this.update()
  }

  private update(): void {
    const next = this.compute()
    if (next.kind === this.current.kind && next.text === this.current.text) return
    this.current = next
    for (const listener of this.listeners) listener(next)
  }

  private compute(): Status {
    if (this.denied !== null) return { kind: 'denied', text: this.denied }
    if (this.readOnly !== null) return { kind: 'read-only', text: 'Read-only: your changes are not saved' }
    const { wsconnected, synced } = this.provider
    if (wsconnected && synced) {
      // Until this connection's sync is confirmed, edits kept offline (even from an earlier visit)
      // may still be on their way.
      return this.unsaved || !this.syncSaved
        ? { kind: 'saving', text: 'Saving…' }
        : { kind: 'saved', text: 'Saved' }
    }
    if (wsconnected || !this.everConnected) {
      if (this.provider.wsUnsuccessfulReconnects < OFFLINE_AFTER_ATTEMPTS) {
        return { kind: 'connecting', text: 'Connecting…' }
      }
    } else if (this.provider.wsUnsuccessfulReconnects < OFFLINE_AFTER_ATTEMPTS) {
      return { kind: 'reconnecting', text: 'Reconnecting…' }
    }
    return {
      kind: 'offline',
      text: this.offlineCache ? 'Offline — edits kept on this device' : 'Offline — keep this page open',
    }
  }
}

function deniedText(code: number, reason: string): string {
  if (code === CloseCode.Unauthorized) return 'Access denied: sign-in required or the link has expired'
  if (code === CloseCode.Forbidden) return 'Access denied: you do not have access to this document'
  return `Disconnected: ${reason || `code ${code}`}`
}
