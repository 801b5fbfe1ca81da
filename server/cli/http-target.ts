/**
 * The {@link Target} on a running server, through its document API (`server/api.ts`). A 429 is
 * waited out as its Retry-After says, a bounded number of times.
 */
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { Node } from 'prosemirror-model'
import { docToJSON } from '../../content/convert.js'
import { decodeRecords } from '../../persistence/backup.js'
import type { VersionRecord } from '../../persistence/store.js'
import type { Connection } from './args.js'
import { CommandError } from './errors.js'
import type { DocSummary, Target } from './target.js'

/** The API's largest page. */
const PAGE_LIMIT = 1000
/** A request (its answer included) that takes longer fails. */
const REQUEST_TIMEOUT_MS = 60_000
/** Answers of 429 waited out per request before giving up. */
const MAX_RATE_LIMIT_RETRIES = 10
/** Longest wait for one 429, whatever its Retry-After says. */
const MAX_RETRY_WAIT_MS = 30_000
/** Wait for a 429 without (or with an unreadable) Retry-After. */
const DEFAULT_RETRY_WAIT_MS = 1000

type UrlConnection = Extract<Connection, { kind: 'url' }>

interface Answer {
  readonly status: number
  readonly body: Uint8Array
}

/** The target of a running server at `connection.url`, with its token when it has one. */
export function httpTarget(connection: UrlConnection): Target {
  const { url: base, token, label } = connection

  /**
   * One request, its 429s waited out; resolves with the response, its body unread, once its
   * status is one of `expected`; rejects on a network failure or another status.
   */
  async function send(
    method: string,
    path: string,
    expected: readonly number[],
    body?: { readonly type: string; readonly bytes: Uint8Array },
    timeoutMs: number | null = REQUEST_TIMEOUT_MS,
  ): Promise<Response> {
    const url = new URL(path, base)
    const headers: Record<string, string> = {}
    if (token !== null) headers.authorization = `Bearer ${token}`
    if (body) headers['content-type'] = body.type
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await fetch(url, {
          method,
          headers,
          // A copy: fetch takes views of an ArrayBuffer only (Yjs hands out ArrayBufferLike ones).
          ...(body ? { body: new Uint8Array(body.bytes) } : {}),
          ...(timeoutMs === null ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
        })
      } catch (error) {
        throw unreachable(label, error)
      }
      if (expected.includes(res.status)) return res
      const bytes = new Uint8Array(await res.arrayBuffer())
      if (res.status === 429 && attempt < MAX_RATE_LIMIT_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, retryWaitMs(res.headers.get('retry-after'))))
        continue
      }
      throw failure(label, `${method} ${url.pathname}`, res.status, bytes, attempt)
    }
  }

  /** One request and its whole answer (see `send`). */
  async function request(
    method: string,
    path: string,
    expected: readonly number[],
    body?: { readonly type: string; readonly bytes: Uint8Array },
  ): Promise<Answer> {
    const res = await send(method, path, expected, body)
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) }
  }

  const docPath = (name: string) => `api/docs/${encodeURIComponent(name)}`

  return {
    label,

    async list(onProgress) {
      const docs: DocSummary[] = []
      let after: string | null = null
      do {
        const query = new URLSearchParams({ limit: String(PAGE_LIMIT) })
        if (after !== null) query.set('after', after)
        const page = parseJson(label, (await request('GET', `api/docs?${query}`, [200])).body)
        const { docs: listed, next } = page as { docs?: unknown; next?: unknown }
        if (!Array.isArray(listed) || !(next === null || typeof next === 'string')) {
          throw new CommandError(
            'TANDEM_ERR_SERVER',
            `${label}: the document list is not what a Tandem server sends`,
          )
        }
        for (const entry of listed) docs.push(listEntry(label, entry))
        after = next
        onProgress?.(docs.length)
      } while (after !== null)
      return docs
    },

    async state(name) {
      const answer = await request('GET', `${docPath(name)}?format=yjs`, [200, 404])
      return answer.status === 404 ? null : answer.body
    },

    async write(name, doc: Node) {
      const bytes = new TextEncoder().encode(JSON.stringify(docToJSON(doc)))
      const answer = await request('PUT', docPath(name), [200, 201], { type: 'application/json', bytes })
      return { created: answer.status === 201 }
    },

    async versions(name) {
      const answer = await request('GET', `${docPath(name)}/versions`, [200, 404])
      if (answer.status === 404) return null
      const { versions } = parseJson(label, answer.body) as { versions?: unknown }
      if (!Array.isArray(versions)) {
        throw new CommandError(
          'TANDEM_ERR_SERVER',
          `${label}: the version list is not what a Tandem server sends`,
        )
      }
      return versions.map(
        (v: { id: number; at: string; name: string | null; authors: VersionRecord['authors'] }) => ({
          id: v.id,
          at: Date.parse(v.at),
          name: v.name,
          authors: v.authors,
        }),
      )
    },

    async *records() {
      // The backup's stream as it comes: a large store takes as long as it takes.
      const res = await send('GET', 'api/backup', [200], undefined, null)
      yield* decodeRecords(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>))
    },

    async delete(name) {
      return (await request('DELETE', docPath(name), [204, 404])).status === 204
    },

    async close() {},
  }
}

/** Retry-After in seconds or as an HTTP date, bounded; a default when absent or unreadable. */
function retryWaitMs(header: string | null): number {
  if (header === null) return DEFAULT_RETRY_WAIT_MS
  const seconds = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now()
  if (Number.isNaN(seconds)) return DEFAULT_RETRY_WAIT_MS
  return Math.min(Math.max(seconds, 0), MAX_RETRY_WAIT_MS)
}

function parseJson(label: string, body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body))
  } catch {
    throw new CommandError(
      'TANDEM_ERR_SERVER',
      `${label}: the server's answer is not JSON (is it a Tandem server?)`,
    )
  }
}

function listEntry(label: string, entry: unknown): DocSummary {
  const { name, created, modified, size } = (entry ?? {}) as Record<string, unknown>
  const createdAt = typeof created === 'string' ? Date.parse(created) : Number.NaN
  const updatedAt = typeof modified === 'string' ? Date.parse(modified) : Number.NaN
  if (
    typeof name !== 'string' ||
    typeof size !== 'number' ||
    Number.isNaN(createdAt) ||
    Number.isNaN(updatedAt)
  ) {
    throw new CommandError(
      'TANDEM_ERR_SERVER',
      `${label}: the document list is not what a Tandem server sends`,
    )
  }
  return { name, createdAt, updatedAt, bytes: size, records: null }
}

/** A network failure, with its cause's code (ECONNREFUSED …) when it has one. */
function unreachable(label: string, error: unknown): CommandError {
  if ((error as Error).name === 'TimeoutError') {
    return new CommandError(
      'TANDEM_ERR_SERVER',
      `${label}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`,
      { cause: error },
    )
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause
  const why =
    typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? (error as Error).message)
  return new CommandError('TANDEM_ERR_SERVER', `${label}: cannot reach the server (${why})`, { cause: error })
}

/** The error for an unexpected status, from the API's `{ error: { code, message } }` when it has one. */
function failure(
  label: string,
  what: string,
  status: number,
  body: Uint8Array,
  retries: number,
): CommandError {
  let detail = ''
  try {
    const { error } = JSON.parse(new TextDecoder().decode(body)) as {
      error?: { code?: unknown; message?: unknown }
    }
    if (typeof error?.code === 'string' && typeof error.message === 'string')
      detail = `${error.code}: ${error.message}`
  } catch {
    // Not the API's JSON (a proxy's page …): the status says enough.
  }
  const hint =
    status === 401
      ? ' (pass a token with --token or TANDEM_TOKEN)'
      : status === 403
        ? ' (listing, deleting, backup and restore need an admin token: npm run token -- --admin)'
        : status === 429
          ? ` (still rate limited after ${retries} retries)`
          : ''
  return new CommandError(
    'TANDEM_ERR_SERVER',
    `${label}: ${what} answered ${status}${detail ? ` ${detail}` : ''}${hint}`,
  )
}
