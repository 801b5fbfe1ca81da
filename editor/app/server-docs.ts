// The server's list of documents (`GET /api/docs`, admin only when auth is on), for the home page.
import { type ApiTarget, apiJson, badResponse, isRecord } from '../api.js'

/** A document as the server lists it. */
export interface ServerDoc {
  readonly name: string
  readonly created: Date
  readonly modified: Date
  /** Bytes on the server's disk. */
  readonly size: number
}

/** One page of the list, by name; `next` is the `after` of the next page (null: the last one). */
export interface DocPage {
  readonly docs: readonly ServerDoc[]
  readonly next: string | null
}

export interface DocQuery {
  /** Only names containing this (case-insensitive). */
  readonly q?: string
  /** Only names after this one: a previous page's `next`. */
  readonly after?: string | null
  /** At most this many documents. */
  readonly limit?: number
  readonly signal?: AbortSignal
}

/** A page of the server's documents, in name order. @throws ApiError (401/403 without an admin token) */
export async function listServerDocs(target: ApiTarget, query: DocQuery = {}): Promise<DocPage> {
  const params = new URLSearchParams()
  if (query.q) params.set('q', query.q)
  if (query.after) params.set('after', query.after)
  if (query.limit !== undefined) params.set('limit', String(query.limit))
  const search = params.toString()
  const body = await apiJson(
    target,
    `/api/docs${search ? `?${search}` : ''}`,
    query.signal ? { signal: query.signal } : {},
  )
  if (!isRecord(body) || !Array.isArray(body.docs)) throw badResponse('no document list')
  const next = typeof body.next === 'string' ? body.next : null
  return { docs: body.docs.map(parseDoc), next }
}

function parseDoc(value: unknown): ServerDoc {
  if (!isRecord(value)) throw badResponse('a document is not an object')
  const { name, created, modified, size } = value
  const createdAt = typeof created === 'string' ? new Date(created) : null
  const modifiedAt = typeof modified === 'string' ? new Date(modified) : null
  if (
    typeof name !== 'string' ||
    !createdAt ||
    Number.isNaN(createdAt.getTime()) ||
    !modifiedAt ||
    Number.isNaN(modifiedAt.getTime()) ||
    typeof size !== 'number'
  ) {
    throw badResponse('a document lacks its name, times or size')
  }
  return { name, created: createdAt, modified: modifiedAt, size }
}
