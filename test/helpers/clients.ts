import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import { WebsocketProvider as ProviderV1 } from 'y-websocket-v1'
import * as Y from 'yjs'
import { waitFor } from './wait.js'

export type Provider = WebsocketProvider | ProviderV1

export interface Client {
  readonly doc: Y.Doc
  readonly provider: Provider
  /** Resolves once the provider has completed a sync with the server. */
  synced(): Promise<void>
  destroy(): void
}

export interface ClientOptions {
  readonly version?: 'v3' | 'v1'
  readonly params?: Record<string, string>
  readonly connect?: boolean
  readonly doc?: Y.Doc
}

/** A stock y-websocket client in Node (ws as its WebSocket), like any third-party client. */
export function connectClient(url: string, room: string, options: ClientOptions = {}): Client {
  const doc = options.doc ?? new Y.Doc()
  const common = {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: options.params ?? {},
    connect: options.connect ?? true,
    disableBc: true,
  }
  const provider: Provider =
    options.version === 'v1'
      ? new ProviderV1(url, room, doc, common)
      : new WebsocketProvider(url, room, doc, common)
  return {
    doc,
    provider,
    synced: () => waitFor(provider as WebsocketProvider, 'sync', () => provider.synced, 10_000),
    destroy: () => {
      provider.destroy()
      doc.destroy()
    },
  }
}

/** Resolves once `doc` satisfies `check`, re-checking on every update. */
export function waitForDoc(doc: Y.Doc, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  return waitFor(doc, 'update', check, timeoutMs)
}
