/**
 * The Lua scripts of the Redis store: each runs atomically on the server, so every write of a
 * document, and every read that must see one consistent document, is one script.
 *
 * Every script starts with a shebang (Redis 7.0+): a writing script without `allow-oom` is refused
 * as a whole when Redis is out of memory, instead of failing halfway (only the ones that free
 * memory, delete and unlock, run anyway); `no-writes` marks the readers. They touch the document's keys (one hash tag) and, for the writers, the index of names.
 */
import { createHash } from 'node:crypto'

/** A script and its SHA1, for EVALSHA. */
export interface Script {
  readonly name: string
  readonly source: string
  readonly sha: string
}

function script(name: string, flags: string, body: string): Script {
  const source = `#!lua${flags ? ` flags=${flags}` : ''}\n${COMMON}\n${body.trim()}\n`
  return { name, source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Helpers every script has: stream id comparison, document creation, and the record count. */
const COMMON = `
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function cmp(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end
-- The document's generation, created (with its counters and index entry) when it has none.
local function ensure(meta, index, escaped, gen, now)
  local current = redis.call('HGET', meta, 'gen')
  if current then return current, 0 end
  redis.call('HSET', meta, 'gen', gen, 'createdAt', now, 'updatedAt', now, 'bytes', 0, 'records', 0,
    'updates', 0, 'last', '0-0', 'stateId', '0-0')
  redis.call('ZADD', index, 0, escaped)
  return gen, 1
end
-- Tells the cluster relay about an entry: 'u<id> <prev> <node>', a newline, then the update.
local function announce(channel, id, prev, node, update)
  redis.call('PUBLISH', channel, 'u' .. id .. ' ' .. prev .. ' ' .. node .. '\\n' .. update)
end
-- Recounts the records and bytes stored (the state, then each entry's update).
local function recount(meta, log, state)
  local records, bytes = 0, 0
  if redis.call('EXISTS', state) == 1 then
    records = 1
    bytes = redis.call('STRLEN', state)
  end
  for _, entry in ipairs(redis.call('XRANGE', log, '-', '+')) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'u' then bytes = bytes + #fields[i + 1] end
    end
    records = records + 1
  end
  redis.call('HSET', meta, 'records', records, 'bytes', bytes)
end
`

/**
 * Appends updates. KEYS: meta, log, index. ARGV: escaped name, node, now, a new generation (used
 * if the document is created), the document's channel, then the updates. Each entry is published
 * on the channel with the id of the one before it (so a listener sees when it missed one).
 * Returns `{gen, prev, last, created}`: `prev` the document's last entry id before these, `last`
 * the id of the last one added.
 */
export const APPEND = script(
  'append',
  '',
  `
local meta, log, index = KEYS[1], KEYS[2], KEYS[3]
local gen, created = ensure(meta, index, ARGV[1], ARGV[4], ARGV[3])
local prev = redis.call('HGET', meta, 'last') or '0-0'
local last, bytes = prev, 0
for i = 6, #ARGV do
  local id = redis.call('XADD', log, '*', 'u', ARGV[i], 'n', ARGV[2])
  announce(ARGV[5], id, last, ARGV[2], ARGV[i])
  last = id
  bytes = bytes + #ARGV[i]
end
local count = #ARGV - 5
redis.call('HINCRBY', meta, 'records', count)
redis.call('HINCRBY', meta, 'bytes', bytes)
redis.call('HINCRBY', meta, 'updates', count)
redis.call('HSET', meta, 'updatedAt', ARGV[3], 'last', last)
return {gen, prev, last, created}
`,
)

/**
 * Compacts. KEYS: meta, log, state, lock, index. ARGV: escaped name, node, now, a new generation,
 * the generation the caller knows (`?`: none, `` : the document did not exist), `included` (every
 * entry up to it is in the state), the id after it, `unsure` (`1`: the state may hold what no entry
 * holds), the caller's lock token, the state, the document's channel.
 *
 * - Another node's lock is held: `{'busy'}`, nothing written (our own lock is released first thing:
 *   the script is atomic, so the lock has done its work once it runs).
 * - Known generation, not unsure, `included` at or past `stateId`: the state replaces the compacted
 *   state and every entry up to `included` is trimmed; later entries (other nodes') stay. `compacted`.
 * - Known generation, not unsure, `included` before `stateId`: another node compacted further, into a
 *   state this one's may lack, while everything this one holds is in the log or that state already:
 *   nothing to write. `dropped`.
 * - Otherwise (position unknown, the document was deleted or recreated since, or unsure): the state
 *   is appended as an entry, so nothing it holds is lost and other nodes read it like any update;
 *   with a known generation, entries up to `included` are trimmed too. `appended`.
 * Returns `{mode, gen, prev, entry, created}`.
 */
export const COMPACT = script(
  'compact',
  '',
  `
local meta, log, state, lock, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local holder = redis.call('GET', lock)
if holder then
  if holder ~= ARGV[9] then return {'busy'} end
  redis.call('DEL', lock)
end
local known = ARGV[5]
local current = redis.call('HGET', meta, 'gen') or ''
local matches = known ~= '?' and current == known
local gen, created = ensure(meta, index, ARGV[1], ARGV[4], ARGV[3])
local prev = redis.call('HGET', meta, 'last') or '0-0'
local mode, entry = 'appended', ''
if matches and ARGV[8] == '0' then
  if cmp(ARGV[6], redis.call('HGET', meta, 'stateId') or '0-0') < 0 then
    return {'dropped', gen, prev, entry, created}
  end
  redis.call('SET', state, ARGV[10])
  redis.call('HSET', meta, 'stateId', ARGV[6])
  redis.call('XTRIM', log, 'MINID', ARGV[7])
  mode = 'compacted'
else
  entry = redis.call('XADD', log, '*', 'u', ARGV[10], 'n', ARGV[2])
  announce(ARGV[11], entry, prev, ARGV[2], ARGV[10])
  redis.call('HSET', meta, 'last', entry)
  if matches then redis.call('XTRIM', log, 'MINID', ARGV[7]) end
end
recount(meta, log, state)
redis.call('HINCRBY', meta, 'updates', 1)
redis.call('HSET', meta, 'updatedAt', ARGV[3])
return {mode, gen, prev, entry, created}
`,
)

const META_FIELDS = `'gen', 'last', 'stateId', 'createdAt', 'updatedAt', 'bytes', 'records', 'updates'`

/**
 * Reads a document whole. KEYS: meta, log, state.
 * Returns `{meta, state, entries}`: `meta` the fields gen, last, stateId, createdAt, updatedAt,
 * bytes, records, updates (nil where absent), `entries` as XRANGE gives them.
 */
export const LOAD = script(
  'load',
  'no-writes',
  `
return {
  redis.call('HMGET', KEYS[1], ${META_FIELDS}),
  redis.call('GET', KEYS[3]),
  redis.call('XRANGE', KEYS[2], '-', '+'),
}
`,
)

/**
 * Reads the entries after an id. KEYS: meta, log, state. ARGV: the id, the most entries to return.
 * Returns `{meta, state, entries}` like LOAD, with `state` nil unless entries after the id were
 * compacted into it.
 */
export const READ_SINCE = script(
  'read-since',
  'no-writes',
  `
local meta = redis.call('HMGET', KEYS[1], ${META_FIELDS})
local state = false
if cmp(ARGV[1], meta[3] or '0-0') < 0 then state = redis.call('GET', KEYS[3]) end
return {meta, state, redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
`,
)

/**
 * Reads everything of a document, for a backup. KEYS: meta, log, state, versions, deltas, head.
 * Returns `{meta, state, entries, versions, deltas, head}`.
 */
export const SNAPSHOT = script(
  'snapshot',
  'no-writes',
  `
return {
  redis.call('HMGET', KEYS[1], ${META_FIELDS}),
  redis.call('GET', KEYS[3]),
  redis.call('XRANGE', KEYS[2], '-', '+'),
  redis.call('LRANGE', KEYS[4], 0, -1),
  redis.call('LRANGE', KEYS[5], 0, -1),
  redis.call('GET', KEYS[6]),
}
`,
)

/** Reads a document's versions and head. KEYS: versions, head. Returns `{records, head}`. */
export const VERSIONS = script(
  'versions',
  'no-writes',
  `
return {redis.call('LRANGE', KEYS[1], 0, -1), redis.call('GET', KEYS[2])}
`,
)

/**
 * Adds a version. KEYS: versions, deltas, head, index. ARGV: escaped name, the version record's
 * JSON without its opening `{` and its id, the delta, the head. Returns the new version's id.
 */
export const ADD_VERSION = script(
  'add-version',
  '',
  `
local id = redis.call('LLEN', KEYS[1]) + 1
redis.call('RPUSH', KEYS[1], '{"id":' .. id .. ',' .. ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return id
`,
)

/**
 * Deletes a document. KEYS: its keys, then the index. ARGV: escaped name, its channel, node.
 * Publishes `d<node>` on the channel: other nodes close the document's connections.
 */
export const DELETE = script(
  'delete',
  'allow-oom',
  `
local index = table.remove(KEYS)
redis.call('DEL', unpack(KEYS))
redis.call('ZREM', index, ARGV[1])
redis.call('PUBLISH', ARGV[2], 'd' .. ARGV[3])
return 1
`,
)

/** Releases a lock if the token is still the holder's. KEYS: lock. ARGV: token. */
export const RELEASE = script(
  'release',
  'allow-oom',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
)

export const SCRIPTS: readonly Script[] = [
  APPEND,
  COMPACT,
  LOAD,
  READ_SINCE,
  SNAPSHOT,
  VERSIONS,
  ADD_VERSION,
  DELETE,
  RELEASE,
]
