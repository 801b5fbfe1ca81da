import { describe, expect, it } from 'vitest'
import { tokenMode, toWebSocketUrl } from '../../editor/mount.js'
import { signToken } from '../../server/auth.js'

describe('mountEditor helpers', () => {
  it.each([
    ['http://localhost:1234', 'ws://localhost:1234'],
    ['https://docs.example.com/', 'wss://docs.example.com'],
    ['wss://docs.example.com/sync', 'wss://docs.example.com/sync'],
  ])('server URL %s → %s', (input, expected) => {
    expect(toWebSocketUrl(input)).toBe(expected)
  })

  it('refuses other schemes', () => {
    expect(() => toWebSocketUrl('ftp://x')).toThrow(
      'serverUrl must be an http(s) or ws(s) URL, got "ftp://x"',
    )
  })

  it('reads the mode a token claims, read-only unless it says rw', async () => {
    const secret = 'x'.repeat(32)
    expect(tokenMode(await signToken(secret, { sub: 'a', docs: ['d'], mode: 'rw', ttlSeconds: 60 }))).toBe(
      'rw',
    )
    expect(tokenMode(await signToken(secret, { sub: 'a', docs: ['d'], mode: 'ro', ttlSeconds: 60 }))).toBe(
      'ro',
    )
    expect(tokenMode('not-a-jwt')).toBeNull()
  })
})
