import { safeLocalStorage } from '../identity.js'

const KEY = 'tandem:recent'
const LIMIT = 12

export interface RecentDoc {
  readonly room: string
  /** When this browser last opened it, in ms since the epoch. */
  readonly openedAt: number
}

/** Documents this browser opened, most recent first. */
export function recentDocs(storage = safeLocalStorage()): RecentDoc[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(KEY) ?? '[]')
    if (!Array.isArray(parsed)) return []
    return parsed.filter(
      (d): d is RecentDoc =>
        typeof d === 'object' && d !== null && typeof d.room === 'string' && typeof d.openedAt === 'number',
    )
  } catch {
    return []
  }
}

export function rememberDoc(room: string, storage = safeLocalStorage()): void {
  const next = [{ room, openedAt: Date.now() }, ...recentDocs(storage).filter((d) => d.room !== room)]
  try {
    storage?.setItem(KEY, JSON.stringify(next.slice(0, LIMIT)))
  } catch {}
}

/** The app's link to a document: `/d/<room>`, each path segment percent-encoded. */
export function docPath(room: string): string {
  return `/d/${room.split('/').map(encodeURIComponent).join('/')}`
}
