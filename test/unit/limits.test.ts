import { describe, expect, it } from 'vitest'
import { ConnectionCounter, RateLimit } from '../../server/limits.js'

describe('rate limit', () => {
  const limits = { messagesPerSecond: 10, messageBurst: 20, bytesPerSecond: 100, byteBurst: 1000 }

  it('allows a burst of messages up to its capacity, then the rate', () => {
    const rate = new RateLimit(limits, 0)
    for (let i = 0; i < 20; i++) expect(rate.take(1, 0)).toBeNull()
    expect(rate.take(1, 0)).toBe('messages')
    expect(rate.take(1, 50)).toBe('messages')
    expect(rate.take(1, 100)).toBeNull()
    // Refills only up to its capacity.
    const later = new RateLimit(limits, 0)
    for (let i = 0; i < 20; i++) expect(later.take(1, 1_000_000)).toBeNull()
    expect(later.take(1, 1_000_000)).toBe('messages')
  })

  it('limits bytes separately, and takes nothing from a refused frame', () => {
    const rate = new RateLimit(limits, 0)
    expect(rate.take(900, 0)).toBeNull()
    expect(rate.take(200, 0)).toBe('bytes')
    expect(rate.take(100, 0)).toBeNull()
    expect(rate.take(1, 0)).toBe('bytes')
    expect(rate.take(100, 1000)).toBeNull()
  })

  it('turns a budget off at rate 0', () => {
    const rate = new RateLimit(
      { messagesPerSecond: 0, messageBurst: 0, bytesPerSecond: 100, byteBurst: 100 },
      0,
    )
    for (let i = 0; i < 100; i++) expect(rate.take(1, 0)).toBeNull()
  })
})

describe('connection counter', () => {
  it('refuses past the limit per key, and frees on release', () => {
    const counter = new ConnectionCounter(2)
    expect([counter.acquire('a'), counter.acquire('a'), counter.acquire('a')]).toEqual([true, true, false])
    expect(counter.acquire('b')).toBe(true)
    counter.release('a')
    expect(counter.acquire('a')).toBe(true)
  })

  it('counts without limit at 0', () => {
    const counter = new ConnectionCounter(0)
    for (let i = 0; i < 1000; i++) expect(counter.acquire('a')).toBe(true)
  })
})
