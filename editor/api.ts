// The browser's side of the server's HTTP API (server/api.ts): requests with the token as a bearer
// header, and answers that are not a success turned into an ApiError naming the server's code.

/** Where API requests go and who makes them. */
export interface ApiTarget {
  /** The server's HTTP(S) origin, without a trailing slash (see {@link toHttpUrl}). */
  readonly baseUrl: string
  /** A JWT for servers with auth on; sent as `Authorization: Bearer …`. */
  readonly token?: string | undefined
}

/**
 * A request the server refused or that did not reach it. `status` is the HTTP status (0: no answer
 * at all); `code` the server's `TANDEM_ERR_…` code, or `TANDEM_ERR_NETWORK` / `TANDEM_ERR_BAD_RESPONSE`
 * for a failure on the way.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** `ws://host` → `http://host`, `wss://host` → `https://host`; http(s) URLs are kept; no trailing `/`. */
export function toHttpUrl(serverUrl: string): string {
  const url = new URL(serverUrl)
  if (url.protocol === 'ws:') url.protocol = 'http:'
  else if (url.protocol === 'wss:') url.protocol = 'https:'
  return url.href.replace(/\/+$/, '')
}

/** The API path of document `room`'s `rest` (`''`, `/versions`…): the name is one encoded segment. */
export function docApiPath(room: string, rest = ''): string {
  return `/api/docs/${encodeURIComponent(room)}${rest}`
}

export interface ApiRequest {
  readonly method?: 'GET' | 'POST'
  /** Sent as JSON. */
  readonly json?: unknown
  readonly signal?: AbortSignal
}

/**
 * Sends a request to `path` (starting with `/api/`) and resolves with the response when its status
 * is 2xx.
 *
 * @throws ApiError for any other status (with the server's error code and message when it sent
 *   one) and when the server could not be reached; an abort rejects with the signal's reason.
 */
export async function apiFetch(target: ApiTarget, path: string, request: ApiRequest = {}): Promise<Response> {
  const headers: Record<string, string> = {}
  if (target.token) headers.authorization = `Bearer ${target.token}`
  if (request.json !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(`${target.baseUrl}${path}`, {
      method: request.method ?? 'GET',
      headers,
      ...(request.json !== undefined ? { body: JSON.stringify(request.json) } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      cache: 'no-store',
    })
  } catch (error) {
    if (request.signal?.aborted) throw error
    throw new ApiError(0, 'TANDEM_ERR_NETWORK', 'Could not reach the server')
  }
  if (response.ok) return response
  throw await errorOf(response)
}

/** Like {@link apiFetch}, resolving with the body parsed as JSON (still `unknown`: guard it). */
export async function apiJson(target: ApiTarget, path: string, request: ApiRequest = {}): Promise<unknown> {
  const response = await apiFetch(target, path, request)
  try {
    return await response.json()
  } catch {
    throw badResponse('not JSON')
  }
}

/** An answer that does not have the shape the API documents. */
export function badResponse(what: string): ApiError {
  return new ApiError(0, 'TANDEM_ERR_BAD_RESPONSE', `Unexpected answer from the server (${what})`)
}

/** The ApiError of a non-2xx response: `{ error: { code, message } }` when the server sent it. */
async function errorOf(response: Response): Promise<ApiError> {
  let body: unknown = null
  try {
    body = await response.json()
  } catch {
    // A proxy's HTML error page, or nothing: the status alone then.
  }
  const error = isRecord(body) && isRecord(body.error) ? body.error : null
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`
  const message =
    typeof error?.message === 'string' ? error.message : `${response.status} ${response.statusText}`.trim()
  return new ApiError(response.status, code, message)
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
