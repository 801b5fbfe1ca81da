/**
 * Whether bytes are JSON a stock client can read, checked without building the value: presence
 * checks every awareness state it relays, and JSON.parse would build (and the GC then collect)
 * an object per cursor move.
 */
import { isUtf8 } from 'node:buffer'

const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const QUOTE = 0x22
const PLUS = 0x2b
const COMMA = 0x2c
const MINUS = 0x2d
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const COLON = 0x3a
const OPEN_ARRAY = 0x5b
const BACKSLASH = 0x5c
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const LOWER_U = 0x75
const LOWER_E = 0x65
const UPPER_E = 0x45
const UPPER_A = 0x41
const UPPER_F = 0x46
const LOWER_A = 0x61
const LOWER_F = 0x66
const LITERALS = new Map(['true', 'false', 'null'].map((word) => [word.charCodeAt(0), Buffer.from(word)]))
/** What may follow a backslash in a string, besides `u` and four hex digits. */
const ESCAPED = new Set([...'"\\/bfnrt'].map((char) => char.charCodeAt(0)))

/**
 * Whether `bytes` is what y-protocols reads as an awareness state: lib0 decodes it as UTF-8 (fatal
 * on malformed bytes, keeping a byte order mark) and hands the text to JSON.parse, which takes
 * exactly RFC 8259's grammar. Anything else throws in every client that receives it.
 */
export function isJsonText(bytes: Uint8Array): boolean {
  if (!isUtf8(bytes)) return false
  /** The byte that closes each open object or array, innermost last. */
  const open: number[] = []
  let at = skipSpace(bytes, 0)
  for (;;) {
    // A value starts at `at`.
    const first = bytes[at]
    if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
      const close = first === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY
      at = skipSpace(bytes, at + 1)
      if (bytes[at] === close) {
        at++
      } else {
        open.push(close)
        if (close === CLOSE_OBJECT) at = memberValue(bytes, at)
        if (at < 0) return false
        continue
      }
    } else if (first === QUOTE) {
      at = stringEnd(bytes, at)
    } else {
      const literal = first === undefined ? undefined : LITERALS.get(first)
      at = literal ? literalEnd(bytes, at, literal) : numberEnd(bytes, at)
    }
    // After a value: close what it ends, then a comma and the next value, or the end of the text.
    for (;;) {
      if (at < 0) return false
      at = skipSpace(bytes, at)
      const close = open.at(-1)
      if (close === undefined) return at === bytes.length
      if (bytes[at] === close) {
        open.pop()
        at++
        continue
      }
      if (bytes[at] !== COMMA) return false
      at = skipSpace(bytes, at + 1)
      if (close === CLOSE_OBJECT) at = memberValue(bytes, at)
      if (at < 0) return false
      break
    }
  }
}

/** After the whitespace from `at`. */
function skipSpace(bytes: Uint8Array, at: number): number {
  let end = at
  for (let c = bytes[end]; c === SPACE || c === LF || c === CR || c === TAB; c = bytes[++end]);
  return end
}

/** Where the value of the object member whose key starts at `at` starts; -1 if none does. */
function memberValue(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== QUOTE) return -1
  const end = stringEnd(bytes, at)
  if (end < 0) return -1
  const colon = skipSpace(bytes, end)
  return bytes[colon] === COLON ? skipSpace(bytes, colon + 1) : -1
}

/** The end of the string whose quote is at `at`; -1 if it is not one. */
function stringEnd(bytes: Uint8Array, at: number): number {
  for (let i = at + 1; i < bytes.length; i++) {
    const c = bytes[i] as number
    if (c === QUOTE) return i + 1
    // (Control characters must be escaped; bytes past ASCII are valid UTF-8, checked first.)
    if (c < SPACE) return -1
    if (c !== BACKSLASH) continue
    const escaped = bytes[++i]
    if (escaped === LOWER_U) {
      for (let digit = 0; digit < 4; digit++) if (!isHex(bytes[++i])) return -1
    } else if (escaped === undefined || !ESCAPED.has(escaped)) {
      return -1
    }
  }
  return -1
}

/** The end of the number at `at`; -1 if there is none. */
function numberEnd(bytes: Uint8Array, at: number): number {
  let i = at
  if (bytes[i] === MINUS) i++
  if (bytes[i] === ZERO) i++
  else if (isDigit(bytes[i])) i = digitsEnd(bytes, i)
  else return -1
  if (bytes[i] === DOT) {
    if (!isDigit(bytes[i + 1])) return -1
    i = digitsEnd(bytes, i + 1)
  }
  if (bytes[i] === LOWER_E || bytes[i] === UPPER_E) {
    i++
    if (bytes[i] === PLUS || bytes[i] === MINUS) i++
    if (!isDigit(bytes[i])) return -1
    i = digitsEnd(bytes, i)
  }
  return i
}

function digitsEnd(bytes: Uint8Array, at: number): number {
  let end = at
  while (isDigit(bytes[end])) end++
  return end
}

/** The end of `literal` (true, false or null) at `at`; -1 if it is not there. */
function literalEnd(bytes: Uint8Array, at: number, literal: Buffer): number {
  for (let i = 0; i < literal.length; i++) if (bytes[at + i] !== literal[i]) return -1
  return at + literal.length
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && (isDigit(c) || (c >= UPPER_A && c <= UPPER_F) || (c >= LOWER_A && c <= LOWER_F))
}
