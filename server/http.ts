import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { type ApiDeps, handleApi } from './api.js'
import { HttpError } from './errors.js'
import type { Metrics } from './metrics.js'
import type { StaticFiles } from './static.js'

/** Where an upgrade wants to go: the room (percent-decoded path) and the query parameters. */
export interface UpgradeTarget {
  readonly room: string
  readonly params: URLSearchParams
}

/**
 * Parses the request target of an upgrade. The room is the path without its leading `/`,
 * percent-decoded; the query string is not part of it. Throws an {@link HttpError} (400) for a
 * missing, undecodable or too long name, control characters, or a `..` segment.
 */
export function parseUpgradeTarget(target: string | undefined, maxRoomNameBytes: number): UpgradeTarget {
  const raw = target ?? '/'
  const queryAt = raw.indexOf('?')
  const path = queryAt === -1 ? raw : raw.slice(0, queryAt)
  const params = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1))
  if (!path.startsWith('/')) throw badRoom('request target must be a path')
  let room: string
  try {
    room = decodeURIComponent(path.slice(1))
  } catch {
    throw badRoom('room name is not valid percent-encoding')
  }
  checkRoomName(room, maxRoomNameBytes)
  return { room, params }
}

/**
 * Throws an {@link HttpError} (400) for a document name no room may have: empty, longer than
 * `maxRoomNameBytes`, with control characters or a `..` segment.
 */
export function checkRoomName(room: string, maxRoomNameBytes: number): void {
  if (room.length === 0) throw badRoom('room name is missing')
  if (Buffer.byteLength(room, 'utf8') > maxRoomNameBytes) {
    throw badRoom(`room name is longer than ${maxRoomNameBytes} bytes`)
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(room)) throw badRoom('room name contains control characters')
  if (room.split('/').includes('..')) throw badRoom('room name contains a ".." segment')
}

const badRoom = (message: string) => new HttpError('TANDEM_ERR_BAD_ROOM_NAME', 400, message)

/**
 * The address a client connects from: the socket's peer, or with `trustProxy` the last
 * `X-Forwarded-For` entry (the one our proxy added; earlier ones are the client's word).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = trustProxy ? req.headers['x-forwarded-for'] : undefined
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').pop()?.trim()
  return last || req.socket.remoteAddress || 'unknown'
}

/** Refuses a browser upgrade from an origin not in `allowed` (requests without Origin pass). */
export function checkOrigin(req: IncomingMessage, allowed: readonly string[] | null): void {
  const origin = req.headers.origin
  if (allowed === null || origin === undefined || allowed.includes(origin)) return
  throw new HttpError('TANDEM_ERR_ORIGIN', 403, `origin ${origin} is not allowed`)
}

/** Answers an upgrade that will not become a WebSocket, with a plain HTTP response on the raw socket. */
export function refuseUpgrade(socket: Duplex, error: HttpError): void {
  const body = `${error.message}\n`
  socket.end(
    `HTTP/1.1 ${error.status} ${statusText(error.status)}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Tandem-Error: ${error.code}\r\n\r\n${body}`,
  )
}

export interface RouteDeps {
  readonly metrics: Metrics
  readonly staticFiles: StaticFiles | null
  /** The document API; null before the server listens and while it shuts down (503). */
  readonly api: ApiDeps | null
  /** The `/healthz` body; `ok: false` answers 503. */
  health(): { readonly ok: boolean } & Record<string, unknown>
}

/**
 * Handles Tandem's HTTP routes (`/healthz`, `/metrics`, `/api/…`, the editor). Returns false for a
 * request it has no route for, so an embedding app can answer it.
 */
export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  deps: RouteDeps,
): Promise<boolean> {
  const pathname = (req.url ?? '/').split('?')[0] ?? '/'
  if (pathname === '/api' || pathname.startsWith('/api/')) {
    if (deps.api) await handleApi(req, res, deps.api)
    else sendJson(res, 503, { error: { code: 'TANDEM_ERR_SHUTTING_DOWN', message: 'server is not serving' } })
    return true
  }
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return false
  if (pathname === '/healthz') {
    const health = deps.health()
    sendJson(res, health.ok ? 200 : 503, health)
    return true
  }
  if (pathname === '/metrics') {
    const body = await deps.metrics.registry.metrics()
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' })
    res.end(body)
    return true
  }
  return deps.staticFiles ? deps.staticFiles.serve(req, res, pathname) : false
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(text)
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    429: 'Too Many Requests',
    503: 'Service Unavailable',
  }
  return texts[status] ?? 'Error'
}
