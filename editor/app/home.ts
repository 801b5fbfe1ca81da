import { ApiError } from '../api.js'
import { randomDocName } from '../identity.js'
import { docPath, recentDocs } from './recent.js'
import { listServerDocs, type ServerDoc } from './server-docs.js'

/** Documents fetched per page of the server's list. */
const PAGE_SIZE = 50
/** How long the search waits for typing to pause before asking the server, in ms. */
const SEARCH_DELAY_MS = 200

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

// `?token=`: used for the list, and passed on to the documents this page links to.
const token = new URLSearchParams(location.search).get('token') ?? undefined
const api = { baseUrl: location.origin, ...(token ? { token } : {}) }

/** The app's link to `room`, with this page's token. */
function linkTo(room: string): string {
  return token ? `${docPath(room)}?token=${encodeURIComponent(token)}` : docPath(room)
}

byId<HTMLButtonElement>('new-doc').addEventListener('click', () => {
  location.assign(linkTo(randomDocName()))
})
byId<HTMLFormElement>('open-doc').addEventListener('submit', (event) => {
  event.preventDefault()
  const room = byId<HTMLInputElement>('doc-name').value.trim()
  if (room) location.assign(linkTo(room))
})

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
const fullTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

/** `5 minutes ago`, `3 hours ago`, `yesterday`… */
function ago(at: number): string {
  const minutes = Math.round((at - Date.now()) / 60_000)
  if (Math.abs(minutes) < 60) return relative.format(minutes, 'minute')
  if (Math.abs(minutes) < 1440) return relative.format(Math.round(minutes / 60), 'hour')
  return relative.format(Math.round(minutes / 1440), 'day')
}

function timeElement(at: Date, text: string): HTMLTimeElement {
  const time = document.createElement('time')
  time.dateTime = at.toISOString()
  time.title = fullTime.format(at)
  time.textContent = text
  return time
}

/** `512 bytes`, `1.2 kB`, `3.4 MB` in the browser's language. */
function formatSize(bytes: number): string {
  const [value, unit]: [number, string] =
    bytes < 1000
      ? [bytes, 'byte']
      : bytes < 1_000_000
        ? [bytes / 1000, 'kilobyte']
        : [bytes / 1e6, 'megabyte']
  return new Intl.NumberFormat(undefined, {
    style: 'unit',
    unit,
    // The short form says "53 byte".
    unitDisplay: unit === 'byte' ? 'long' : 'short',
    maximumFractionDigits: 1,
  }).format(value)
}

function renderRecent(): void {
  const recent = recentDocs()
  if (recent.length === 0) return
  byId('recent-list').replaceChildren(
    ...recent.map(({ room, openedAt }) => {
      const item = document.createElement('li')
      const link = document.createElement('a')
      link.href = linkTo(room)
      link.textContent = room
      item.append(link, timeElement(new Date(openedAt), ago(openedAt)))
      return item
    }),
  )
  byId('recent').hidden = false
}

function docItem(doc: ServerDoc): HTMLLIElement {
  const item = document.createElement('li')
  const link = document.createElement('a')
  link.href = linkTo(doc.name)
  link.textContent = doc.name
  const meta = document.createElement('span')
  meta.className = 'meta'
  const size = document.createElement('span')
  size.className = 'size'
  size.textContent = formatSize(doc.size)
  meta.append(
    'edited ',
    timeElement(doc.modified, ago(doc.modified.getTime())),
    ' · created ',
    timeElement(doc.created, day.format(doc.created)),
    ' · ',
    size,
  )
  item.append(link, meta)
  return item
}

const docsSection = byId('docs')
const list = byId('doc-list')
const search = byId<HTMLInputElement>('doc-search')
const more = byId<HTMLButtonElement>('doc-more')
const note = byId('docs-note')

function say(text: string): void {
  note.textContent = text
  note.hidden = text === ''
}

/** The server's next page after `after` (or its first), for what the search box says. */
let round = 0
let next: string | null = null
let inFlight: AbortController | null = null

async function loadDocs(append: boolean): Promise<void> {
  const mine = ++round
  inFlight?.abort()
  const controller = new AbortController()
  inFlight = controller
  const q = search.value.trim()
  more.disabled = true
  try {
    const page = await listServerDocs(api, {
      q,
      after: append ? next : null,
      limit: PAGE_SIZE,
      signal: controller.signal,
    })
    if (mine !== round) return
    next = page.next
    const items = page.docs.map(docItem)
    if (!append && items.length === 0) {
      const empty = document.createElement('li')
      empty.className = 'empty'
      empty.textContent = q ? `No document’s name contains “${q}”.` : 'No documents on this server yet.'
      items.push(empty)
    }
    if (append) list.append(...items)
    else list.replaceChildren(...items)
    more.hidden = next === null
    docsSection.hidden = false
    say('')
  } catch (error) {
    if (mine !== round || controller.signal.aborted) return
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      // Auth is on and this is not an administrator: what this browser opened is all we can show.
      docsSection.hidden = true
      say(
        `Only an administrator’s link lists every document on this server${recentDocs().length > 0 ? '; below are the ones opened on this device' : ''}.`,
      )
    } else {
      say(`Could not list the documents on this server: ${error instanceof Error ? error.message : error}`)
    }
  } finally {
    if (mine === round) more.disabled = false
  }
}

let searchTimer: ReturnType<typeof setTimeout> | undefined
search.addEventListener('input', () => {
  clearTimeout(searchTimer)
  searchTimer = setTimeout(() => void loadDocs(false), SEARCH_DELAY_MS)
})
more.addEventListener('click', () => void loadDocs(true))

renderRecent()
void loadDocs(false)
