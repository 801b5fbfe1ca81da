import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
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
 * missing or undecodable name.
 */
export function parseUpgradeTarget(target: string | undefined): UpgradeTarget {
  const raw = target ?? '/'
  const queryAt = raw.indexOf('?')
  const path = queryAt === -1 ? raw : raw.slice(0, queryAt)
  const params = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1))
  if (!path.startsWith('/'))
    throw new HttpError('TANDEM_ERR_BAD_ROOM_NAME', 400, 'request target must be a path')
  let room: string
  try {
    room = decodeURIComponent(path.slice(1))
  } catch {
    throw new HttpError('TANDEM_ERR_BAD_ROOM_NAME', 400, 'room name is not valid percent-encoding')
  }
  if (room.length === 0) throw new HttpError('TANDEM_ERR_BAD_ROOM_NAME', 400, 'room name is missing')
  return { room, params }
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
  /** The `/healthz` body; `ok: false` answers 503. */
  health(): { readonly ok: boolean } & Record<string, unknown>
}

/**
 * Handles Tandem's plain HTTP routes (`/healthz`, `/metrics`, the editor). Returns false for a
 * request it has no route for, so an embedding app can answer it.
 */
export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  deps: RouteDeps,
): Promise<boolean> {
  const pathname = (req.url ?? '/').split('?')[0] ?? '/'
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
