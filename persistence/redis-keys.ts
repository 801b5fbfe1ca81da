/**
 * Key layout of the Redis store, and stream entry ids. Pure: no Redis here.
 *
 * Every key is `<namespace>:v1:…` (`v1`: the layout's version, bumped if the layout changes):
 * - `<ns>:v1:docs`                  sorted set (all scores 0) of escaped document names: list(), backups
 * - `<ns>:v1:doc:{<escaped>}:meta`  hash: gen, createdAt, updatedAt, bytes, records, updates, last, stateId
 * - `…:log`     stream: the appended updates, each entry `u` (the update) and `n` (the writing node)
 * - `…:state`   string: the compacted state (every entry up to `stateId`, merged)
 * - `…:versions` list of version records (JSON; version n at index n-1), `…:deltas` list of their deltas,
 *   `…:head` string: the latest version's snapshot
 * - `…:lock`    string: the token of the node compacting the document (SET NX PX)
 * - `<ns>:v1:node:<id>`            string with an expiry: a live node's heartbeat (cluster relay)
 *
 * One Pub/Sub channel per document, `<ns>:v1:doc:{<escaped>}:room` (channels are not keys): the
 * scripts publish each entry they append on it, for the cluster relay (server/cluster.ts).
 *
 * The escaped name sits in a hash tag (`{…}`), so one document's keys hash to one Redis Cluster slot
 * and a script can touch them together. Escaping (percent-encoding of `%`, `{`, `}`, `:`, the glob
 * characters `*?[]\`, control characters, and `%uXXXX` for a lone UTF-16 surrogate, which UTF-8 cannot
 * carry) is injective, and an escaped name never holds `}`: the first `}` after `{` ends the name, so
 * no name's keys can be another name's, and a key pattern built from an escaped name matches
 * literally. The empty name escapes to `%` (no escape is `%` alone), keeping the hash tag non-empty.
 */

/** The layout's version, part of every key. */
export const LAYOUT = 'v1'

/** The keys of one document. */
export interface DocKeys {
  /** The escaped name, as the index holds it. */
  readonly escaped: string
  readonly meta: string
  readonly log: string
  readonly state: string
  readonly versions: string
  readonly deltas: string
  readonly head: string
  readonly lock: string
  /** The Pub/Sub channel the document's appends (and its nodes' awareness) are published on. */
  readonly channel: string
}

/** ASCII characters escaped: `%`, the hash tag's braces, the separator, glob characters. */
const SPECIAL = new Set('%{}:*?[]\\')

/** `name` with the characters that could break a key or a key pattern percent-encoded (see above). */
export function escapeName(name: string): string {
  if (name === '') return '%'
  let out = ''
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i)
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < name.length) {
      const low = name.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        out += name.slice(i, i + 2)
        i++
        continue
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) out += `%u${hex(code, 4)}`
    else if (code < 0x20 || code === 0x7f || SPECIAL.has(name[i]!)) out += `%${hex(code, 2)}`
    else out += name[i]
  }
  return out
}

function hex(code: number, digits: number): string {
  return code.toString(16).toUpperCase().padStart(digits, '0')
}

/** The name `escapeName` made `escaped` from; throws on a string it cannot have made. */
export function unescapeName(escaped: string): string {
  if (escaped === '%') return ''
  return escaped.replace(/%(?:u([0-9A-F]{4})|([0-9A-F]{2}))|%/g, (_match, wide?: string, byte?: string) => {
    const hex = wide ?? byte
    if (hex === undefined) throw new Error(`malformed escaped document name ${JSON.stringify(escaped)}`)
    return String.fromCharCode(Number.parseInt(hex, 16))
  })
}

/** The key of the index of document names under `namespace`. */
export function indexKey(namespace: string): string {
  return `${namespace}:${LAYOUT}:docs`
}

/** The keys of document `name` under `namespace`. */
export function docKeys(namespace: string, name: string): DocKeys {
  const escaped = escapeName(name)
  const base = `${namespace}:${LAYOUT}:doc:{${escaped}}:`
  return {
    escaped,
    meta: `${base}meta`,
    log: `${base}log`,
    state: `${base}state`,
    versions: `${base}versions`,
    deltas: `${base}deltas`,
    head: `${base}head`,
    lock: `${base}lock`,
    channel: `${base}room`,
  }
}

/** The heartbeat key of node `nodeId` under `namespace`. */
export function nodeKey(namespace: string, nodeId: string): string {
  return `${namespace}:${LAYOUT}:node:${escapeName(nodeId)}`
}

/** Every key of `namespace`, as a SCAN pattern (`namespace` itself must hold no glob character). */
export function namespacePattern(namespace: string): string {
  return `${namespace}:${LAYOUT}:*`
}

/** A stream entry id, `<ms>-<seq>`; `0-0` is before every entry. */
export const ID_ZERO = '0-0'
const ID = /^(\d{1,20})-(\d{1,20})$/

/** Whether `id` is a stream entry id (`<ms>-<seq>`, decimal). */
export function isEntryId(id: string): boolean {
  return ID.test(id)
}

function parts(id: string): [bigint, bigint] {
  const match = ID.exec(id)
  if (!match) throw new RangeError(`not a stream entry id: ${JSON.stringify(id)}`)
  return [BigInt(match[1]!), BigInt(match[2]!)]
}

/** Negative, zero or positive as stream entry id `a` is before, equal to or after `b`. */
export function compareIds(a: string, b: string): number {
  const [am, as] = parts(a)
  const [bm, bs] = parts(b)
  if (am !== bm) return am < bm ? -1 : 1
  return as === bs ? 0 : as < bs ? -1 : 1
}

/** The smallest id after `id` (what `XTRIM MINID` keeps from, to drop `id` and every entry before). */
export function nextId(id: string): string {
  const [ms, seq] = parts(id)
  return `${ms}-${seq + 1n}`
}
