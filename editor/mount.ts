import type { EditorView } from 'prosemirror-view'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { toHttpUrl } from './api.js'
import { createEditorView } from './editor.js'
import { HistoryPanel } from './history.js'
import { type Identity, loadIdentity, normalizeIdentity, saveIdentity } from './identity.js'
import { PeopleList } from './people.js'
import { SaveTracker, type Status } from './status.js'
import { useStyles } from './styles.js'
import { Toolbar } from './toolbar.js'

export interface MountOptions {
  /** The Tandem server: `https://docs.example.com`, `http://localhost:1234` or a `ws(s)://` URL. */
  readonly serverUrl: string
  /** The document's name, any string (it is percent-encoded into the URL). */
  readonly room: string
  /**
   * A JWT for servers with auth on; sent as the `token` query parameter, and to the document API
   * (version history) as `Authorization: Bearer`.
   */
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

/** How long saving a version waits for this page's edits to reach the server's disk, in ms. */
const VERSION_SAVE_WAIT_MS = 5_000

/** The bottom bar's History button, for people without a toolbar. */
function historyButton(toggle: () => void): HTMLButtonElement {
  const el = document.createElement('button')
  el.type = 'button'
  el.className = 'tandem-history-toggle'
  el.textContent = 'History'
  el.title = 'Version history'
  el.setAttribute('aria-pressed', 'false')
  el.addEventListener('click', toggle)
  return el
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
 * kept in this browser while offline unless `offline: false`). Its History button shows the
 * document's versions through the server's HTTP API at `serverUrl` (a page on another origin needs
 * the server to allow it, CORS).
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
  const history = new HistoryPanel({
    doc: {
      baseUrl: toHttpUrl(options.serverUrl),
      room: options.room,
      ...(options.token ? { token: options.token } : {}),
    },
    canWrite: !readOnly,
    whenSaved: () => whenSaved(VERSION_SAVE_WAIT_MS),
    onChange: () => {
      // A version is shown in place of the document, which cannot be edited meanwhile.
      const left = page.hidden && !history.viewing
      page.hidden = history.viewing
      view.setProps({ editable })
      toolbar.update(view)
      historyToggle?.setAttribute('aria-pressed', String(history.isOpen))
      // Back from a version: to the text, rather than to a button that is gone.
      if (left) view.focus()
    },
  })
  const toolbar = new Toolbar(() => view, { doc, name: options.room }, history)
  // Read-only people have no toolbar: their way to the history is in the bottom bar.
  const historyToggle = readOnly ? historyButton(() => history.toggle()) : null
  const main = document.createElement('div')
  main.className = 'tandem-main'
  const page = document.createElement('div')
  page.className = 'tandem-page'
  const bar = document.createElement('div')
  bar.className = 'tandem-bar'
  const statusLine = document.createElement('span')
  statusLine.className = 'tandem-status'
  statusLine.setAttribute('role', 'status')
  statusLine.setAttribute('aria-live', 'polite')

  const editable = () =>
    !readOnly && !history.viewing && tracker.status.kind !== 'read-only' && tracker.status.kind !== 'denied'
  const view = createEditorView(page, {
    fragment,
    awareness: provider.awareness,
    editable,
    onUpdate: (v) => toolbar.update(v),
  })
  const people = new PeopleList(
    provider.awareness,
    () => view,
    (next) => setUser(next),
  )
  if (readOnly) root.classList.add('is-read-only')
  bar.append(statusLine, ...(historyToggle ? [historyToggle] : []), people.dom)
  if (!readOnly) root.append(toolbar.dom)
  main.append(page, history.versionDom, history.dom)
  root.append(main, bar)
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

  /** Resolves once no edit of this page waits for the server's disk, or after `timeoutMs`. */
  function whenSaved(timeoutMs: number): Promise<void> {
    if (!tracker.unsaved) return Promise.resolve()
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer)
        stop()
        resolve()
      }
      const timer = setTimeout(finish, timeoutMs)
      // The listener is called at once (still unsaved then), later on each status change.
      const stop = tracker.subscribe(() => {
        if (!tracker.unsaved) queueMicrotask(finish)
      })
    })
  }

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
      history.destroy()
      tracker.destroy()
      people.destroy()
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
