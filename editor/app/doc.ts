import { mountEditor } from '../mount.js'
import { keepPageOffline } from './offline.js'
import { docPath, rememberDoc } from './recent.js'

/** The room is the path after `/d/`, percent-decoded segment by segment (see docPath). */
function roomFromPath(pathname: string): string {
  try {
    return pathname
      .replace(/^\/d\//, '')
      .split('/')
      .map(decodeURIComponent)
      .join('/')
  } catch {
    return ''
  }
}

const room = roomFromPath(location.pathname)
if (room === '') location.replace('/')
const params = new URLSearchParams(location.search)
const token = params.get('token') ?? undefined

document.title = `${room} · Tandem`
const title = document.getElementById('doc-title') as HTMLElement
title.textContent = room
rememberDoc(room)

const editor = mountEditor(document.getElementById('editor') as HTMLElement, {
  serverUrl: location.origin,
  room,
  readOnly: params.has('readonly'),
  ...(token ? { token } : {}),
})
editor.view.focus()
void keepPageOffline()

const toast = document.getElementById('toast') as HTMLElement
let toastTimer: ReturnType<typeof setTimeout> | undefined
function say(text: string): void {
  toast.textContent = text
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => {
    toast.textContent = ''
  }, 2500)
}

document.getElementById('share')?.addEventListener('click', async () => {
  // Share the document, not this person's token: others need their own.
  const link = new URL(docPath(room), location.origin).href
  try {
    await navigator.clipboard.writeText(link)
    say('Link copied')
  } catch {
    globalThis.prompt('Copy this link', link)
  }
})

// For tests and the console: the mounted editor of this page.
Object.assign(globalThis, { tandem: editor })
