/**
 * Who may open which document: JWT verification (jose) and the typed `authenticate` hook.
 * Pure of sockets: a request's facts in, an {@link Access} or an {@link AuthError} out.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose'
import { CloseCode, ConnectionError } from './errors.js'

export type AccessMode = 'rw' | 'ro'

/** What a connection may do, decided once when it opens. */
export interface Access {
  readonly user: { readonly id: string; readonly name?: string }
  /** `ro`: receives the document and awareness; its document updates are refused. */
  readonly mode: AccessMode
  /** When the access ends (ms since the epoch); the connection is closed with 4401 then. */
  readonly expiresAt?: number
  /**
   * May read, write, list and delete every document through the HTTP API (and the CLI's `--url`
   * mode). A JWT says so with the claim `admin: true`.
   */
  readonly admin?: boolean
}

/** The facts an authenticator decides on. */
export interface AuthRequest {
  /**
   * The decoded room name the client asked for; `''` for an HTTP API request about no document
   * in particular (listing documents), which only an `admin` access may make.
   */
  readonly room: string
  /** The `token` query parameter, or the `Authorization: Bearer` header; null when neither. */
  readonly token: string | null
  readonly headers: IncomingHttpHeaders
  readonly remoteAddress: string | undefined
}

/**
 * Decides access for one connection. Reject with an {@link AuthError} (`unauthorized` → 4401,
 * `forbidden` → 4403); any other rejection counts as unauthorized.
 */
export type Authenticate = (request: AuthRequest) => Promise<Access>

/** A refused connection: 4401 (who are you?) or 4403 (not this document). */
export class AuthError extends ConnectionError {
  static unauthorized(message: string): AuthError {
    return new AuthError('TANDEM_ERR_UNAUTHORIZED', CloseCode.Unauthorized, message)
  }

  static forbidden(message: string): AuthError {
    return new AuthError('TANDEM_ERR_FORBIDDEN', CloseCode.Forbidden, message)
  }
}

/** Where tokens are checked: a shared secret (HS256), a public key (RS256/ES256), or a JWKS. */
export interface JwtConfig {
  readonly secret?: string
  /** A PEM-encoded SPKI public key (RSA → RS256, EC P-256 → ES256). */
  readonly publicKey?: string
  readonly jwks?: JSONWebKeySet
}

/** Extra seconds of `exp`/`nbf` tolerance for clocks that drift apart. */
const CLOCK_TOLERANCE_S = 5

/** The token a client sent: `?token=` (browsers) or `Authorization: Bearer` (other clients). */
export function tokenOf(params: URLSearchParams, headers: IncomingHttpHeaders): string | null {
  const fromQuery = params.get('token')
  if (fromQuery) return fromQuery
  const match = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')
  return match?.[1] ?? null
}

/**
 * Whether `pattern` covers `room`: equal, or with `*` standing for any run of characters
 * (`team/*` covers `team/notes` and `team/a/b`, `*` covers everything).
 */
export function roomMatches(pattern: string, room: string): boolean {
  if (!pattern.includes('*')) return pattern === room
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${source}$`, 's').test(room)
}

/** The access a verified payload grants for `room`; throws an AuthError when it grants none. */
export function accessFromClaims(payload: JWTPayload, room: string): Access {
  const { sub, name, doc, docs, mode, exp, admin } = payload as JWTPayload & Record<string, unknown>
  if (typeof sub !== 'string' || sub === '') throw AuthError.unauthorized('token has no subject (sub)')
  const user = typeof name === 'string' ? { id: sub, name } : { id: sub }
  const expiresAt = typeof exp === 'number' ? { expiresAt: exp * 1000 } : {}
  if (admin === true) return { user, mode: 'rw', admin: true, ...expiresAt }
  const patterns: unknown[] = typeof doc === 'string' ? [doc] : Array.isArray(docs) ? docs : []
  if (patterns.length === 0 || !patterns.every((p): p is string => typeof p === 'string')) {
    throw AuthError.unauthorized('token names no documents (doc or docs)')
  }
  if (mode !== undefined && mode !== 'rw' && mode !== 'ro') {
    throw AuthError.unauthorized(`token mode must be rw or ro, got ${JSON.stringify(mode)}`)
  }
  if (!patterns.some((p) => roomMatches(p, room)))
    throw AuthError.forbidden('token does not cover this document')
  // Least privilege: a token that does not say it may write, may only read.
  return { user, mode: mode === 'rw' ? 'rw' : 'ro', ...expiresAt }
}

/** An {@link Authenticate} that accepts exactly the JWTs `config` can verify. */
export function jwtAuthenticator(config: JwtConfig): Authenticate {
  const verifier = verifierOf(config)
  return async ({ room, token }) => {
    if (!token) throw AuthError.unauthorized('a token is required')
    let payload: JWTPayload
    try {
      ;({ payload } = await verifier(token))
    } catch (error) {
      throw AuthError.unauthorized(describeJoseError(error))
    }
    return accessFromClaims(payload, room)
  }
}

function verifierOf(config: JwtConfig): (token: string) => Promise<{ payload: JWTPayload }> {
  const options = { clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['sub', 'exp'] }
  if (config.secret !== undefined) {
    const key = new TextEncoder().encode(config.secret)
    return (token) => jwtVerify(token, key, { ...options, algorithms: ['HS256'] })
  }
  if (config.publicKey !== undefined) {
    const key: KeyObject = createPublicKey(config.publicKey)
    const algorithm = key.asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256'
    return (token) => jwtVerify(token, key, { ...options, algorithms: [algorithm] })
  }
  if (config.jwks !== undefined) {
    const keys = createLocalJWKSet(config.jwks)
    return (token) => jwtVerify(token, keys, { ...options, algorithms: ['RS256', 'ES256'] })
  }
  throw new TypeError('jwtAuthenticator needs a secret, a publicKey or a jwks')
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired'
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid'
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed'
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${error.claim} is invalid`
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'token is malformed'
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'token key is unknown'
  return 'token is invalid'
}

/** What {@link signToken} puts in a token. */
export interface TokenClaims {
  readonly sub: string
  readonly name?: string
  /** Room names or `*` patterns the token opens. */
  readonly docs: readonly string[]
  readonly mode: AccessMode
  /** Lifetime in seconds. */
  readonly ttlSeconds: number
  /** Every document, and the server-wide API (list, delete, backup): `docs` and `mode` are then moot. */
  readonly admin?: boolean
}

/** Signs an HS256 token for the `--auth-secret` servers (what `npm run token` prints). */
export function signToken(secret: string, claims: TokenClaims): Promise<string> {
  const { sub, name, docs, mode, ttlSeconds, admin } = claims
  const payload = {
    ...(name ? { name } : {}),
    ...(docs.length === 1 ? { doc: docs[0] } : { docs }),
    mode,
    ...(admin ? { admin: true } : {}),
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret))
}
