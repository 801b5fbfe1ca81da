import type { EditorView } from 'prosemirror-view'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { createEditorView } from './editor.js'
import { type Identity, loadIdentity, normalizeIdentity, saveIdentity } from './identity.js'
import { PresenceList } from './presence.js'
import { SaveTracker, type Status } from './status.js'
import { useStyles } from './styles.js'
import { Toolbar } from './toolbar.js'

export interface MountOptions {
  /** The Tandem server: `https://docs.example.com`, `http://localhost:1234` or a `ws(s)://` URL. */
  readonly serverUrl: string
  /** The document's name, any string (it is percent-encoded into the URL). */
  readonly room: string
  /** A JWT for servers with auth on; sent as the `token` query parameter. */
  readonly token?: string
  /** Name and colour shown to others. Default: the one remembered in this browser (or a new one). */
  readonly user?: Identity
  /** Show the document without letting this person edit it. Default false. */
  readonly readOnly?: boolean
  /** Keep a copy in this browser (IndexedDB) so edits survive a reload while offline. Default true. */
  readonly offline?: boolean
  /** Called with the connection status now and whenever it changes. */
  readonly onStatus?: (status: Status) => void
}

/** What {@link mountEditor} returns. */
export interface MountedEditor {
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  readonly view: EditorView
  /** The current connection status ("Saved", "Saving…", "Offline — …"). */
  readonly status: () => Status
  /** Whether some local edit is not yet confirmed on the server's disk. */
  readonly unsaved: () => boolean
  /** Changes the name and colour others see (and, when not given by the embedder, remembers them). */
  setUser(identity: Identity): void
  /** Removes the editor and everything it started: DOM, listeners, timers, sockets, IndexedDB handle. */
  destroy(): void
}

/**
 * The `mode` a JWT claims (read without verifying: the server decides; this only picks the UI).
 * Like the server, a token that does not say `rw` is read-only; null for something not a JWT.
 */
export function tokenMode(token: string): 'rw' | 'ro' | null {
  try {
    const payload = token.split('.')[1]
    if (!payload) return null
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    return (JSON.parse(json) as { mode?: unknown }).mode === 'rw' ? 'rw' : 'ro'
  } catch {
    return null
  }
}

/** `http://host` → `ws://host`, `https://host` → `wss://host`; `ws(s)://` URLs are kept. */
export function toWebSocketUrl(serverUrl: string): string {
  const url = new URL(serverUrl)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`serverUrl must be an http(s) or ws(s) URL, got ${JSON.stringify(serverUrl)}`)
  }
  return url.href.replace(/\/+$/, '')
}

/**
 * Mounts a collaborative editor for `room` into `element`: toolbar, document, and a bar with the
 * connection status and the people present. It connects at once; edits are saved by the server (and
 * kept in this browser while offline unless `offline: false`).
 *
 * @throws TypeError for a bad `serverUrl` or an empty `room`.
 */
export function mountEditor(element: HTMLElement, options: MountOptions): MountedEditor {
  if (typeof options.room !== 'string' || options.room === '') {
    throw new TypeError('room must be a non-empty string')
  }
  const url = toWebSocketUrl(options.serverUrl)
  // A read-only token would be refused on the first keystroke anyway: say so from the start.
  const readOnly =
    options.readOnly === true || (options.token !== undefined && tokenMode(options.token) === 'ro')
  const doc = new Y.Doc()
  const fragment = doc.getXmlFragment('prosemirror')
  const cache =
    options.offline === false ? null : new IndexeddbPersistence(`tandem:${url}/${options.room}`, doc)
  const provider = new WebsocketProvider(url, encodeURIComponent(options.room), doc, {
    params: { saved: '1', ...(options.token ? { token: options.token } : {}) },
  })
  const tracker = new SaveTracker(doc, provider, new Set<unknown>([provider, cache]), cache !== null)

  let identity = normalizeIdentity(options.user) ?? loadIdentity()
  provider.awareness.setLocalStateField('user', identity)

  const releaseStyles = useStyles()
  const root = document.createElement('div')
  root.className = 'tandem-editor'
  const toolbar = new Toolbar(() => view, { doc, name: options.room })
  const page = document.createElement('div')
  page.className = 'tandem-page'
  const bar = document.createElement('div')
  bar.className = 'tandem-bar'
  const statusLine = document.createElement('span')
  statusLine.className = 'tandem-status'
  statusLine.setAttribute('role', 'status')
  statusLine.setAttribute('aria-live', 'polite')

  const editable = () => !readOnly && tracker.status.kind !== 'read-only' && tracker.status.kind !== 'denied'
  const view = createEditorView(page, {
    fragment,
    awareness: provider.awareness,
    editable,
    onUpdate: (v) => toolbar.update(v),
  })
  const presence = new PresenceList(
    provider.awareness,
    () => view,
    (next) => setUser(next),
  )
  if (readOnly) root.classList.add('is-read-only')
  bar.append(statusLine, presence.dom)
  if (!readOnly) root.append(toolbar.dom)
  root.append(page, bar)
  element.append(root)
  toolbar.update(view)

  const stopStatus = tracker.subscribe((status) => {
    statusLine.textContent = status.text
    statusLine.dataset.kind = status.kind
    // Access may have just been denied or limited to reading: redraw with the new editability.
    view.setProps({ editable })
    toolbar.update(view)
    options.onStatus?.(status)
  })
  const onBeforeUnload = (event: BeforeUnloadEvent) => {
    if (!tracker.unsaved) return
    event.preventDefault()
    // Older browsers show the prompt only when returnValue is set.
    event.returnValue = ''
  }
  globalThis.addEventListener?.('beforeunload', onBeforeUnload)

  function setUser(next: Identity): void {
    const valid = normalizeIdentity(next)
    if (!valid) throw new TypeError('user must have a non-empty name and a #rrggbb colour')
    identity = valid
    if (!options.user) saveIdentity(identity)
    provider.awareness.setLocalStateField('user', identity)
  }

  let destroyed = false
  return {
    doc,
    provider,
    view,
    status: () => tracker.status,
    unsaved: () => tracker.unsaved,
    setUser,
    destroy() {
      if (destroyed) return
      destroyed = true
      globalThis.removeEventListener?.('beforeunload', onBeforeUnload)
      stopStatus()
      tracker.destroy()
      presence.destroy()
      view.destroy()
      // Tell the others I left now, rather than when my awareness times out.
      provider.awareness.setLocalState(null)
      provider.destroy()
      void cache?.destroy()
      doc.destroy()
      root.remove()
      releaseStyles()
    },
  }
}
