/**
 * Every way Tandem refuses or ends something, with a stable code and the wire code it maps to.
 * Nothing else in the server writes a bare close code or HTTP status.
 */

import { CloseCode } from '../protocol/wire.js'

export { CloseCode }

export type ErrorCode =
  | 'TANDEM_ERR_INVALID_OPTION'
  | 'TANDEM_ERR_MALFORMED_MESSAGE'
  | 'TANDEM_ERR_UNKNOWN_MESSAGE'
  | 'TANDEM_ERR_TEXT_FRAME'
  | 'TANDEM_ERR_INVALID_UPDATE'
  | 'TANDEM_ERR_QUEUE_FULL'
  | 'TANDEM_ERR_SLOW_CONSUMER'
  | 'TANDEM_ERR_LOAD_FAILED'
  | 'TANDEM_ERR_BAD_ROOM_NAME'
  | 'TANDEM_ERR_SHUTTING_DOWN'
  | 'TANDEM_ERR_UNAUTHORIZED'
  | 'TANDEM_ERR_FORBIDDEN'
  | 'TANDEM_ERR_AUTH_TIMEOUT'
  | 'TANDEM_ERR_ORIGIN'
  | 'TANDEM_ERR_TOO_MANY_CONNECTIONS'
  | 'TANDEM_ERR_ROOM_FULL'
  | 'TANDEM_ERR_TOO_MANY_ROOMS'
  | 'TANDEM_ERR_RATE_LIMIT'
  | 'TANDEM_ERR_AWARENESS_TOO_BIG'
  | 'TANDEM_ERR_AWARENESS_NOT_OWNED'
  | 'TANDEM_ERR_READ_ONLY'
  | 'TANDEM_ERR_MISSING_DEPENDENCIES'
  | 'TANDEM_ERR_INTERNAL'
  | 'TANDEM_ERR_NOT_FOUND'
  | 'TANDEM_ERR_METHOD_NOT_ALLOWED'
  | 'TANDEM_ERR_BAD_REQUEST'
  | 'TANDEM_ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'TANDEM_ERR_BODY_TOO_LARGE'
  | 'TANDEM_ERR_CONTENT_INVALID'
  | 'TANDEM_ERR_NOT_SAVED'
  | 'TANDEM_ERR_DOCUMENT_DELETED'
  | 'TANDEM_ERR_CONFLICT'
  | 'TANDEM_ERR_CLUSTER_MESSAGE'
  | 'TANDEM_ERR_REDIS_CONNECTION'

/** Base class of the errors Tandem throws or closes connections with. */
export class TandemError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TandemError'
    this.code = code
  }
}

/** A bad option value; `option` names it the way the caller spelled it (`port`, `--port`). */
export class OptionsError extends TandemError {
  readonly option: string

  constructor(option: string, message: string) {
    super('TANDEM_ERR_INVALID_OPTION', message)
    this.name = 'OptionsError'
    this.option = option
  }
}

/** A peer's error: ends that peer's connection with `closeCode` and the message as reason. */
export class ConnectionError extends TandemError {
  readonly closeCode: CloseCode

  constructor(code: ErrorCode, closeCode: CloseCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'ConnectionError'
    this.closeCode = closeCode
  }
}

/** Bytes that do not decode as what they claim to be (close 1007); `what` says which. */
export function invalidPayload(what: string, cause: unknown): ConnectionError {
  return new ConnectionError('TANDEM_ERR_INVALID_UPDATE', CloseCode.InvalidPayload, what, { cause })
}

/** The document was deleted (through the API, here or on another node): close 4410. */
export function documentDeleted(): ConnectionError {
  return new ConnectionError('TANDEM_ERR_DOCUMENT_DELETED', CloseCode.Deleted, 'document deleted')
}

/** A refused HTTP request or upgrade: answered with `status` before any WebSocket exists. */
export class HttpError extends TandemError {
  readonly status: number

  constructor(code: ErrorCode, status: number, message: string) {
    super(code, message)
    this.name = 'HttpError'
    this.status = status
  }
}

/** Close reasons are limited to 123 bytes by RFC 6455; cut longer ones at a character boundary. */
export function closeReason(message: string): string {
  const bytes = Buffer.from(message, 'utf8')
  if (bytes.length <= 123) return message
  return `${bytes
    .subarray(0, 120)
    .toString('utf8')
    .replace(/\uFFFD$/, '')}…`
}
