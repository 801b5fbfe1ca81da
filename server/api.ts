/**
 * The document API: JSON over HTTP on the WebSocket endpoint's port, sharing its auth, room-name
 * rules and error codes. Every error is `{ "error": { "code", "message" } }` with its status.
 *
 *   GET    /api/docs                 names with created, modified and size (admin; paginated)
 *   GET    /api/docs/<name>          the content as json, html, markdown, text or yjs
 *   PUT    /api/docs/<name>          replaces the content: one ordinary change, seen live
 *   DELETE /api/docs/<name>          closes its connections with 4410 and removes every record
 *   GET    /api/docs/<name>/versions                 its versions: id, time, name, authors
 *   POST   /api/docs/<name>/versions                 records a version now, `{ "name": … }`
 *   GET    /api/docs/<name>/versions/<id>            a version's content, in any format
 *   POST   /api/docs/<name>/versions/<id>/restore    makes the document equal to it (a new version)
 *   GET    /api/backup               every record of the store at one point in time (admin)
 *
 * `<name>` is one percent-encoded path segment (`team%2Fnotes`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Node } from 'prosemirror-model'
import * as Y from 'yjs'
import {
  ContentError,
  type DomEnv,
  type Format,
  formats,
  isFormat,
  parseContent,
  readDoc,
  serializeContent,
  writeDoc,
} from '../content/convert.js'
import { BACKUP_TYPE, encodeRecords } from '../persistence/backup.js'
import type { Author, DocMeta, DocStore, VersionRecord } from '../persistence/store.js'
import { type Access, AuthError, type Authenticate, tokenOf } from './auth.js'
import { CloseCode, ConnectionError, documentDeleted, type ErrorCode, HttpError } from './errors.js'
import { checkOrigin, checkRoomName, sendJson } from './http.js'
import type { KeyedRateLimit } from './limits.js'
import type { Room } from './room.js'
import type { Rooms } from './rooms.js'
import { versionState } from './versions.js'

/** A Yjs update (V1) of the whole document: for backups and copies between servers. */
export type ApiFormat = Format | 'yjs'

const YJS_TYPE = 'application/vnd.yjs.update'

/** The origin of the transactions the API makes (not a connection: every client receives them). */
export const API_ORIGIN = Symbol('tandem api')

export interface ApiDeps {
  readonly rooms: Rooms
  readonly store: DocStore
  /** null: auth is off and every request may do everything. */
  readonly authenticate: Authenticate | null
  readonly rate: KeyedRateLimit
  readonly maxBodyBytes: number
  readonly maxRoomNameBytes: number
  /** Browser origins that may call the API (CORS); null: any. */
  readonly allowedOrigins: readonly string[] | null
  /** The DOM that HTML is parsed and written with. */
  dom(): DomEnv
  clientAddress(req: IncomingMessage): string
}

/** What a request needs: to read a document, to change it, or the whole server (admin). */
type Need = 'read' | 'write' | 'admin'

const MAX_VERSION_NAME = 200
const PAGE_DEFAULT = 100
const PAGE_MAX = 1000

/** Answers a request under `/api`; every outcome, errors included, is a response. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  try {
    await route(req, res, deps)
  } catch (error) {
    const http = asHttpError(error)
    if (!http) throw error
    sendError(res, http)
  }
}

async function route(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const method = req.method ?? 'GET'
  // Pages of other origins (an app embedding the editor) may call it, as they may connect.
  const origin = req.headers.origin
  if (origin !== undefined) {
    checkOrigin(req, deps.allowedOrigins)
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('vary', 'origin')
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      })
      res.end()
      return
    }
  }
  if (deps.rate.take(deps.clientAddress(req), 0, performance.now()) !== null) {
    throw new HttpError('TANDEM_ERR_RATE_LIMIT', 429, 'too many API requests: slow down')
  }
  const segments = url.pathname.split('/').slice(1)
  if (segments[0] === 'api' && segments[1] === 'backup' && segments.length === 2) {
    allow(method, ['GET'])
    await authorize(req, url, deps, '', 'admin')
    return backup(res, deps)
  }
  if (segments[0] !== 'api' || segments[1] !== 'docs') throw notFound(`no API route ${url.pathname}`)
  if (segments.length === 2 || (segments.length === 3 && segments[2] === '')) {
    allow(method, ['GET', 'HEAD'])
    await authorize(req, url, deps, '', 'admin')
    return list(res, url, deps)
  }
  const name = decodeName(segments[2] ?? '', deps.maxRoomNameBytes)
  if (segments[3] === 'versions' && segments.length <= 6)
    return routeVersions(req, res, url, name, segments, deps)
  if (segments.length > 3) {
    throw notFound(`no API route ${url.pathname} (a document name's "/" is written %2F)`)
  }
  switch (method) {
    case 'GET':
    case 'HEAD':
      await authorize(req, url, deps, name, 'read')
      return read(req, res, url, name, deps)
    case 'PUT':
      return replace(req, res, name, await authorize(req, url, deps, name, 'write'), deps)
    case 'DELETE':
      await authorize(req, url, deps, name, 'admin')
      return remove(res, name, deps)
    default:
      allow(method, ['GET', 'HEAD', 'PUT', 'DELETE'])
  }
}

async function routeVersions(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
  segments: readonly string[],
  deps: ApiDeps,
): Promise<void> {
  const method = req.method ?? 'GET'
  const [, , , , rawId, action] = segments
  if (rawId === undefined || rawId === '') {
    allow(method, ['GET', 'HEAD', 'POST'])
    if (method === 'POST') {
      const access = await authorize(req, url, deps, name, 'write')
      return createVersion(req, res, name, access, deps)
    }
    await authorize(req, url, deps, name, 'read')
    const { versions } = await deps.store.versions(name)
    if (versions.length === 0 && !(await exists(name, deps)))
      throw notFound(`no document ${JSON.stringify(name)}`)
    return sendJson(res, 200, { versions: versions.map(describeVersion) })
  }
  if (!/^[1-9]\d{0,15}$/.test(rawId)) throw notFound(`no version ${JSON.stringify(rawId)}`)
  const id = Number(rawId)
  if (action === 'restore') {
    allow(method, ['POST'])
    const access = await authorize(req, url, deps, name, 'write')
    return restoreVersion(res, name, id, access, deps)
  }
  if (action !== undefined) throw notFound(`no API route ${url.pathname}`)
  allow(method, ['GET', 'HEAD'])
  await authorize(req, url, deps, name, 'read')
  const format = responseFormat(url, req)
  const state = await versionStateOf(name, id, deps)
  const body = withDoc([state], (doc) =>
    format === 'yjs' ? state : serializeContent(readDoc(doc), format, deps.dom()),
  )
  send(req, res, format, body)
}

/** A version as the API shows it. */
function describeVersion(version: VersionRecord) {
  return {
    id: version.id,
    at: new Date(version.at).toISOString(),
    name: version.name,
    authors: version.authors,
  }
}

/** The state of version `id` of `name`; 404 when it has none such. */
async function versionStateOf(name: string, id: number, deps: ApiDeps): Promise<Uint8Array> {
  const deltas = await deps.store.versionDeltas(name, id)
  if (deltas.length < id) throw notFound(`document ${JSON.stringify(name)} has no version ${id}`)
  return versionState(deltas)
}

async function createVersion(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  access: Access | null,
  deps: ApiDeps,
): Promise<void> {
  const body = await readBody(req, deps.maxBodyBytes)
  let label: unknown
  try {
    label = body.byteLength === 0 ? undefined : (JSON.parse(body.toString('utf8')) as { name?: unknown }).name
  } catch {
    throw new HttpError('TANDEM_ERR_BAD_REQUEST', 400, 'the body must be JSON: { "name": "…" }')
  }
  if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_VERSION_NAME) {
    throw new HttpError(
      'TANDEM_ERR_BAD_REQUEST',
      400,
      `a version needs a name of 1 to ${MAX_VERSION_NAME} characters: { "name": "…" }`,
    )
  }
  if (!(await exists(name, deps))) throw notFound(`no document ${JSON.stringify(name)}`)
  const { versions } = await deps.store.versions(name)
  if (versions.some((version) => version.name === label)) {
    throw new HttpError('TANDEM_ERR_CONFLICT', 409, `a version named ${JSON.stringify(label)} exists`)
  }
  const version = await deps.rooms.use(name, (room) => {
    if (access) room.history.credit(authorOfAccess(access))
    return room.history.record(label.trim())
  })
  sendJson(res, 201, describeVersion(version as VersionRecord))
}

async function restoreVersion(
  res: ServerResponse,
  name: string,
  id: number,
  access: Access | null,
  deps: ApiDeps,
): Promise<void> {
  const content = withDoc([await versionStateOf(name, id, deps)], readDoc)
  const version = await deps.rooms.use(name, async (room) => {
    // What changed since the latest version becomes one first: a restore loses nothing.
    await room.history.record()
    if (access) room.history.credit(authorOfAccess(access))
    writeDoc(room.doc, content, API_ORIGIN)
    await room.settle()
    if (room.hasUnsavedChanges) throw notSaved()
    return room.history.record(`Restored version ${id}`)
  })
  sendJson(res, 200, describeVersion(version as VersionRecord))
}

function authorOfAccess(access: Access): Author {
  const { id, name } = access.user
  return name === undefined ? { id } : { id, name }
}

async function exists(name: string, deps: ApiDeps): Promise<boolean> {
  return deps.rooms.loaded(name) !== undefined || (await deps.store.info(name)) !== null
}

/**
 * Streams every record of the store, framed (see persistence/backup.ts), from one consistent point
 * in time while the server goes on; `tandem backup --url` writes them into a new data directory.
 */
async function backup(res: ServerResponse, deps: ApiDeps): Promise<void> {
  const records = deps.store.records()[Symbol.asyncIterator]()
  // The first record is read before the answer starts: a store that cannot be read is a 5xx.
  const first = await records.next()
  res.writeHead(200, { 'content-type': BACKUP_TYPE, 'cache-control': 'no-store' })
  const all = (async function* () {
    for (let next = first; !next.done; next = await records.next()) yield next.value
  })()
  await pipeline(Readable.from(encodeRecords(all)), res)
}

async function list(res: ServerResponse, url: URL, deps: ApiDeps): Promise<void> {
  const limit = integerParam(url, 'limit', PAGE_DEFAULT, 1, PAGE_MAX)
  const after = url.searchParams.get('after')
  const query = url.searchParams.get('q')?.toLowerCase() ?? ''
  const all = await deps.store.list()
  const matching = all.filter(
    (meta) => (after === null || meta.name > after) && meta.name.toLowerCase().includes(query),
  )
  const page = matching.slice(0, limit)
  sendJson(res, 200, {
    docs: page.map(describe),
    next: matching.length > limit ? (page.at(-1)?.name ?? null) : null,
  })
}

/** A document as the API lists it. */
function describe(meta: DocMeta) {
  return {
    name: meta.name,
    created: new Date(meta.createdAt).toISOString(),
    modified: new Date(meta.updatedAt).toISOString(),
    size: meta.bytes,
  }
}

async function read(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
  deps: ApiDeps,
): Promise<void> {
  const format = responseFormat(url, req)
  const body = await withState(name, deps, (doc) =>
    format === 'yjs' ? Y.encodeStateAsUpdate(doc) : serializeContent(readDoc(doc), format, deps.dom()),
  )
  if (body === null) throw notFound(`no document ${JSON.stringify(name)}`)
  send(req, res, format, body)
}

function send(req: IncomingMessage, res: ServerResponse, format: ApiFormat, body: string | Uint8Array): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  res.writeHead(200, {
    'content-type': format === 'yjs' ? YJS_TYPE : formats[format].mediaType,
    'content-length': String(bytes.byteLength),
    'cache-control': 'no-store',
    vary: res.hasHeader('vary') ? 'accept, origin' : 'accept',
  })
  res.end(req.method === 'HEAD' ? undefined : bytes)
}

/**
 * Runs `read` on the document's current state: the loaded room's once every write it handed to
 * the store is on disk (nothing is answered that a crash could take back), or the stored one.
 * Resolves null when there is no such document.
 */
async function withState<T>(name: string, deps: ApiDeps, read: (doc: Y.Doc) => T): Promise<T | null> {
  if (deps.rooms.loaded(name)) {
    return deps.rooms.use(name, async (held) => {
      await held.settle()
      return read(held.doc)
    })
  }
  const stored = await deps.store.load(name)
  return stored.meta === null ? null : withDoc(stored.updates, read)
}

/** Runs `read` on a document made of `updates`, freed after. */
function withDoc<T>(updates: readonly Uint8Array[], read: (doc: Y.Doc) => T): T {
  const doc = new Y.Doc()
  try {
    doc.transact(() => {
      for (const update of updates) Y.applyUpdate(doc, update)
    })
    return read(doc)
  } finally {
    doc.destroy()
  }
}

async function replace(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  access: Access | null,
  deps: ApiDeps,
): Promise<void> {
  const format = requestFormat(req)
  const body = await readBody(req, deps.maxBodyBytes)
  let content: Node | Uint8Array
  try {
    content = format === 'yjs' ? body : parseContent(body.toString('utf8'), format, deps.dom())
  } catch (error) {
    if (error instanceof ContentError) throw new HttpError('TANDEM_ERR_CONTENT_INVALID', 400, error.message)
    throw error
  }
  const existed = (await deps.store.info(name)) !== null
  await deps.rooms.use(name, async (room) => {
    if (access) room.history.credit(authorOfAccess(access))
    change(room, content)
    await room.settle()
    if (room.hasUnsavedChanges) throw notSaved()
  })
  sendJson(res, existed ? 200 : 201, { name, created: !existed })
}

/** Applies `content` to the room: a Yjs update merges; a document replaces the content. */
function change(room: Room, content: Node | Uint8Array): void {
  if (!(content instanceof Uint8Array)) {
    writeDoc(room.doc, content, API_ORIGIN)
    return
  }
  try {
    Y.applyUpdate(room.doc, content, API_ORIGIN)
  } catch (cause) {
    throw new HttpError('TANDEM_ERR_CONTENT_INVALID', 400, `not a Yjs update: ${(cause as Error).message}`)
  }
}

async function remove(res: ServerResponse, name: string, deps: ApiDeps): Promise<void> {
  const loaded = deps.rooms.loaded(name) !== undefined
  if (!loaded && (await deps.store.info(name)) === null) throw notFound(`no document ${JSON.stringify(name)}`)
  await deps.rooms.evict(name, documentDeleted())
  // In the same turn as the eviction: a connection arriving next loads what the delete left.
  await deps.store.delete(name)
  res.writeHead(204, { 'cache-control': 'no-store' }).end()
}

/**
 * Checks the request's token (when auth is on) for `name` (`''`: the server as a whole). Throws
 * 401 for no or a bad token, 403 for one that does not allow `need`.
 */
async function authorize(
  req: IncomingMessage,
  url: URL,
  deps: ApiDeps,
  name: string,
  need: Need,
): Promise<Access | null> {
  if (deps.authenticate === null) return null
  let access: Access
  try {
    access = await deps.authenticate({
      room: name,
      token: tokenOf(url.searchParams, req.headers),
      headers: req.headers,
      remoteAddress: deps.clientAddress(req),
    })
  } catch (error) {
    const forbidden = error instanceof AuthError && error.closeCode === CloseCode.Forbidden
    throw new HttpError(
      forbidden ? 'TANDEM_ERR_FORBIDDEN' : 'TANDEM_ERR_UNAUTHORIZED',
      forbidden ? 403 : 401,
      error instanceof Error ? error.message : 'token is invalid',
    )
  }
  if (need === 'admin' && access.admin !== true) {
    throw new HttpError('TANDEM_ERR_FORBIDDEN', 403, 'this needs an admin token')
  }
  if (need === 'write' && access.mode !== 'rw') {
    throw new HttpError('TANDEM_ERR_FORBIDDEN', 403, 'this token may only read the document')
  }
  return access
}

function decodeName(segment: string, maxRoomNameBytes: number): string {
  let name: string
  try {
    name = decodeURIComponent(segment)
  } catch {
    throw new HttpError('TANDEM_ERR_BAD_ROOM_NAME', 400, 'document name is not valid percent-encoding')
  }
  checkRoomName(name, maxRoomNameBytes)
  return name
}

const ACCEPTED: Readonly<Record<string, ApiFormat>> = {
  'application/json': 'json',
  'text/html': 'html',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/plain': 'text',
  [YJS_TYPE]: 'yjs',
}

/** `?format=` wins; otherwise the first type the Accept header prefers; JSON by default. */
function responseFormat(url: URL, req: IncomingMessage): ApiFormat {
  const asked = url.searchParams.get('format')
  if (asked !== null) {
    const format = asked === 'md' ? 'markdown' : asked
    if (isFormat(format) || format === 'yjs') return format
    throw new HttpError(
      'TANDEM_ERR_BAD_REQUEST',
      400,
      `format must be json, html, markdown, text or yjs, got ${JSON.stringify(asked)}`,
    )
  }
  const ranked = (req.headers.accept ?? '')
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.trim().toLowerCase().split(';')
      const q = Number(
        params
          .map((p) => p.trim())
          .find((p) => p.startsWith('q='))
          ?.slice(2) ?? 1,
      )
      return { type: type.trim(), q: Number.isNaN(q) ? 0 : q, index }
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
  for (const { type } of ranked) {
    const format = ACCEPTED[type]
    if (format) return format
  }
  return 'json'
}

function requestFormat(req: IncomingMessage): ApiFormat {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const format = ACCEPTED[type]
  if (!format) {
    throw new HttpError(
      'TANDEM_ERR_UNSUPPORTED_MEDIA_TYPE',
      415,
      `Content-Type must be text/markdown, text/html, application/json, text/plain or ${YJS_TYPE}, got ${JSON.stringify(type)}`,
    )
  }
  return format
}

/** The request body, refused with 413 past `maxBytes` (before reading it, when its length says so). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError('TANDEM_ERR_BODY_TOO_LARGE', 413, `request body is larger than ${maxBytes} bytes`)
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > maxBytes) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function integerParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null) return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new HttpError(
      'TANDEM_ERR_BAD_REQUEST',
      400,
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    )
  }
  return value
}

function allow(method: string, allowed: readonly string[]): void {
  if (allowed.includes(method)) return
  throw new HttpError(
    'TANDEM_ERR_METHOD_NOT_ALLOWED',
    405,
    `${method} is not allowed here (${allowed.join(', ')})`,
  )
}

function notSaved(): HttpError {
  return new HttpError(
    'TANDEM_ERR_NOT_SAVED',
    503,
    'the change is applied but could not be written to disk yet; the server retries',
  )
}

function notFound(message: string): HttpError {
  return new HttpError('TANDEM_ERR_NOT_FOUND', 404, message)
}

/** The HTTP form of an error the API knows; null for a bug (answered 500 by the caller). */
function asHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error
  if (error instanceof ConnectionError && error.code === 'TANDEM_ERR_TOO_MANY_ROOMS') {
    return new HttpError(error.code, 503, error.message)
  }
  return null
}

function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const code: ErrorCode = error.code
  if (error.status === 413) res.setHeader('connection', 'close')
  if (error.status === 429) res.setHeader('retry-after', '1')
  sendJson(res, error.status, { error: { code, message: error.message } })
}
