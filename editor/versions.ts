// A document's versions through the server's API: list, save, read (as Yjs state) and restore.
import { type ApiTarget, apiFetch, apiJson, badResponse, docApiPath, isRecord } from './api.js'

/** Someone who edited a document between two versions, as the server knows them. */
export interface VersionAuthor {
  readonly id: string
  readonly name?: string
}

/** A version of a document as the API lists it. */
export interface Version {
  /** 1 for the first; each next version has the next number. */
  readonly id: number
  readonly at: Date
  /** The name it was saved under; null for one recorded automatically. */
  readonly name: string | null
  /** Who edited since the previous version. */
  readonly authors: readonly VersionAuthor[]
}

/** A document of a server, with the token to reach it. */
export interface DocTarget extends ApiTarget {
  readonly room: string
}

/** The versions of the document, oldest first. @throws ApiError (404 for no such document). */
export async function listVersions(doc: DocTarget, signal?: AbortSignal): Promise<Version[]> {
  const body = await apiJson(doc, docApiPath(doc.room, '/versions'), signal ? { signal } : {})
  if (!isRecord(body) || !Array.isArray(body.versions)) throw badResponse('no version list')
  return body.versions.map(parseVersion)
}

/** Records the document as it is on the server now, under `name`. @throws ApiError (409: name taken). */
export async function saveVersion(doc: DocTarget, name: string): Promise<Version> {
  return parseVersion(
    await apiJson(doc, docApiPath(doc.room, '/versions'), { method: 'POST', json: { name } }),
  )
}

/**
 * Makes the document equal to version `id`, as a change every editor receives; resolves with the
 * version the server records for it. @throws ApiError
 */
export async function restoreVersion(doc: DocTarget, id: number): Promise<Version> {
  return parseVersion(await apiJson(doc, docApiPath(doc.room, `/versions/${id}/restore`), { method: 'POST' }))
}

/** Version `id`'s whole document state: a Yjs update in the V1 encoding. @throws ApiError */
export async function versionState(doc: DocTarget, id: number, signal?: AbortSignal): Promise<Uint8Array> {
  const response = await apiFetch(
    doc,
    docApiPath(doc.room, `/versions/${id}?format=yjs`),
    signal ? { signal } : {},
  )
  return new Uint8Array(await response.arrayBuffer())
}

/** A version from the wire. @throws ApiError when it does not have the documented shape. */
export function parseVersion(value: unknown): Version {
  if (!isRecord(value)) throw badResponse('a version is not an object')
  const { id, at, name, authors } = value
  const time = typeof at === 'string' ? new Date(at) : null
  if (
    typeof id !== 'number' ||
    !Number.isSafeInteger(id) ||
    time === null ||
    Number.isNaN(time.getTime()) ||
    (name !== null && typeof name !== 'string') ||
    !Array.isArray(authors)
  ) {
    throw badResponse('a version lacks its id, time, name or authors')
  }
  return {
    id,
    at: time,
    name,
    authors: authors.filter(isAuthor).map(({ id, name }) => (name ? { id, name } : { id })),
  }
}

function isAuthor(value: unknown): value is VersionAuthor {
  return (
    isRecord(value) &&
    typeof value.id === 'string' &&
    (value.name === undefined || typeof value.name === 'string')
  )
}
