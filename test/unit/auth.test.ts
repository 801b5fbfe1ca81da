import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { AuthError, jwtAuthenticator, roomMatches, signToken, tokenOf } from '../../server/auth.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
const now = () => Math.floor(Date.now() / 1000)
const request = (room: string, token: string | null) => ({
  room,
  token,
  headers: {},
  remoteAddress: '127.0.0.1',
})

/** The close code and reason an authenticator refuses with. */
async function refusal(promise: Promise<unknown>): Promise<[number, string]> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AuthError)
  return [(error as AuthError).closeCode, (error as AuthError).message]
}

describe('room patterns', () => {
  it.each([
    ['notes', 'notes', true],
    ['notes', 'Notes', false],
    ['team/*', 'team/notes', true],
    ['team/*', 'team/a/b', true],
    ['team/*', 'teams/notes', false],
    ['*', 'anything at all', true],
    ['a.b', 'aXb', false],
    ['*-draft', 'plan-draft', true],
  ])('%j covers %j: %s', (pattern, room, expected) => {
    expect(roomMatches(pattern, room)).toBe(expected)
  })
})

describe('tokens from requests', () => {
  it('takes ?token= first, then Authorization: Bearer', () => {
    expect(tokenOf(new URLSearchParams('token=abc'), { authorization: 'Bearer xyz' })).toBe('abc')
    expect(tokenOf(new URLSearchParams(''), { authorization: 'Bearer xyz' })).toBe('xyz')
    expect(tokenOf(new URLSearchParams(''), { authorization: 'Basic xyz' })).toBeNull()
    expect(tokenOf(new URLSearchParams(''), {})).toBeNull()
  })
})

describe('HS256 tokens', () => {
  const authenticate = jwtAuthenticator({ secret: SECRET })

  it('grants what the claims say', async () => {
    const token = await signToken(SECRET, {
      sub: 'ada',
      name: 'Ada',
      docs: ['team/*'],
      mode: 'ro',
      ttlSeconds: 60,
    })
    const access = await authenticate(request('team/notes', token))
    expect(access.user).toEqual({ id: 'ada', name: 'Ada' })
    expect(access.mode).toBe('ro')
    expect(access.expiresAt).toBeGreaterThan(Date.now())
  })

  it('reads mode rw, and treats a token without a mode as read-only', async () => {
    const rw = await signToken(SECRET, { sub: 'a', docs: ['x'], mode: 'rw', ttlSeconds: 60 })
    expect((await authenticate(request('x', rw))).mode).toBe('rw')
    const noMode = await new SignJWT({ doc: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('a')
      .setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(SECRET))
    expect((await authenticate(request('x', noMode))).mode).toBe('ro')
  })

  it.each([
    ['no token', async () => null, 4401, 'a token is required'],
    [
      'a wrong signature',
      () => signToken(`${SECRET}-other`, { sub: 'a', docs: ['x'], mode: 'rw', ttlSeconds: 60 }),
      4401,
      'token signature is invalid',
    ],
    [
      'alg none',
      async () =>
        new UnsecuredJWT({ doc: 'x', mode: 'rw' })
          .setSubject('a')
          .setExpirationTime(now() + 60)
          .encode(),
      4401,
      'token algorithm is not allowed',
    ],
    [
      'a past exp',
      () => signToken(SECRET, { sub: 'a', docs: ['x'], mode: 'rw', ttlSeconds: -60 }),
      4401,
      'token expired',
    ],
    ['garbage', async () => 'not.a.jwt', 4401, 'token is malformed'],
    [
      'no documents',
      () =>
        new SignJWT({ mode: 'rw' })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('a')
          .setExpirationTime(now() + 60)
          .sign(new TextEncoder().encode(SECRET)),
      4401,
      'token names no documents (doc or docs)',
    ],
    [
      'no exp',
      () =>
        new SignJWT({ doc: 'x', mode: 'rw' })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('a')
          .sign(new TextEncoder().encode(SECRET)),
      4401,
      'token claim exp is invalid',
    ],
    [
      'another document',
      () => signToken(SECRET, { sub: 'a', docs: ['team/*', 'y'], mode: 'rw', ttlSeconds: 60 }),
      4403,
      'token does not cover this document',
    ],
  ])('refuses %s', async (_what, makeToken, code, message) => {
    expect(await refusal(authenticate(request('x', await makeToken())))).toEqual([code, message])
  })
})

describe('public-key tokens', () => {
  it.each(['RS256', 'ES256'] as const)('verifies %s with a PEM public key, and nothing else', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
    const authenticate = jwtAuthenticator({ publicKey: await exportSPKI(publicKey) })
    const sign = (key: CryptoKey | Uint8Array, algorithm: string) =>
      new SignJWT({ doc: 'x', mode: 'rw' })
        .setProtectedHeader({ alg: algorithm })
        .setSubject('a')
        .setExpirationTime(now() + 60)
        .sign(key)
    expect((await authenticate(request('x', await sign(privateKey, alg)))).mode).toBe('rw')
    // An HS256 token "signed" with the public key text must not pass (algorithm confusion).
    const pem = new TextEncoder().encode(await exportSPKI(publicKey))
    expect((await refusal(authenticate(request('x', await sign(pem, 'HS256')))))[0]).toBe(4401)
  })

  it('verifies tokens of any key in a JWKS by kid', async () => {
    const one = await generateKeyPair('ES256', { extractable: true })
    const two = await generateKeyPair('RS256', { extractable: true })
    const jwks = {
      keys: [
        { ...(await exportJWK(one.publicKey)), kid: 'one', alg: 'ES256' },
        { ...(await exportJWK(two.publicKey)), kid: 'two', alg: 'RS256' },
      ],
    }
    const authenticate = jwtAuthenticator({ jwks })
    const token = await new SignJWT({ docs: ['x'], mode: 'rw' })
      .setProtectedHeader({ alg: 'RS256', kid: 'two' })
      .setSubject('b')
      .setExpirationTime(now() + 60)
      .sign(two.privateKey)
    expect((await authenticate(request('x', token))).user.id).toBe('b')
    const stranger = await generateKeyPair('ES256')
    const foreign = await new SignJWT({ doc: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'three' })
      .setSubject('c')
      .setExpirationTime(now() + 60)
      .sign(stranger.privateKey)
    expect(await refusal(authenticate(request('x', foreign)))).toEqual([4401, 'token key is unknown'])
  })
})
