/** Who I am in a document: shown next to my cursor and in everyone's presence list. */
export interface Identity {
  readonly name: string
  /** A `#rrggbb` colour (y-prosemirror derives the selection highlight from it). */
  readonly color: string
}

export const COLORS: readonly string[] = [
  '#e5484d',
  '#f76b15',
  '#c29a00',
  '#30a46c',
  '#12a594',
  '#0090ff',
  '#3e63dd',
  '#8e4ec6',
  '#d6409f',
  '#7d6b5d',
]

const ADJECTIVES = ['Brisk', 'Calm', 'Clever', 'Gentle', 'Happy', 'Keen', 'Lucky', 'Quiet', 'Swift', 'Witty']
const ANIMALS = ['Badger', 'Crane', 'Falcon', 'Heron', 'Lynx', 'Otter', 'Panda', 'Robin', 'Seal', 'Wren']

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T

/** A readable random identity, e.g. "Quiet Otter" in teal. */
export function randomIdentity(): Identity {
  return { name: `${pick(ADJECTIVES)} ${pick(ANIMALS)}`, color: pick(COLORS) }
}

/**
 * A readable random document name such as `swift-otter-417`: easy to say aloud, unlikely to clash
 * (10 × 10 × 900 per word pair would be too few for secrecy: use auth for private documents).
 */
export function randomDocName(): string {
  const number = 100 + Math.floor(Math.random() * 900)
  return `${pick(ADJECTIVES).toLowerCase()}-${pick(ANIMALS).toLowerCase()}-${number}`
}

/** Up to two initials for an avatar: "Quiet Otter" → "QO". */
export function initials(name: string): string {
  const letters = name
    .trim()
    .split(/\s+/)
    .map((word) => Array.from(word)[0] ?? '')
  return (
    letters.length > 1 ? `${letters[0]}${letters[letters.length - 1]}` : (letters[0] ?? '?')
  ).toUpperCase()
}

/** Accepts only what we can show safely: a non-empty name (trimmed, ≤ 40 chars) and a hex colour. */
export function normalizeIdentity(value: unknown): Identity | null {
  if (typeof value !== 'object' || value === null) return null
  const { name, color } = value as Record<string, unknown>
  if (typeof name !== 'string' || typeof color !== 'string') return null
  const trimmed = name.trim().slice(0, 40)
  if (trimmed === '' || !/^#[0-9a-f]{6}$/i.test(color)) return null
  return { name: trimmed, color: color.toLowerCase() }
}

const STORAGE_KEY = 'tandem:identity'

/** The identity remembered in this browser, or a new random one (remembered from now on). */
export function loadIdentity(storage: Storage | null = safeLocalStorage()): Identity {
  let stored: Identity | null = null
  try {
    stored = normalizeIdentity(JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null'))
  } catch {}
  if (stored) return stored
  const fresh = randomIdentity()
  saveIdentity(fresh, storage)
  return fresh
}

export function saveIdentity(identity: Identity, storage: Storage | null = safeLocalStorage()): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(identity))
  } catch {
    // Private mode or a full quota: the identity lasts for this page only.
  }
}

/** `localStorage`, or null where the page may not use it (sandboxed iframes, some privacy modes). */
export function safeLocalStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null
  }
}
