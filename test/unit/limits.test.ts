import { describe, expect, it } from 'vitest'
import { ConnectionCounter, TokenBucket } from '../../server/limits.js'

describe('token bucket', () => {
  it('allows a burst up to its capacity, then the rate', () => {
    const bucket = new TokenBucket(10, 20, 0)
    for (let i = 0; i < 20; i++) expect(bucket.take(1, 0)).toBe(true)
    expect(bucket.take(1, 0)).toBe(false)
    expect(bucket.take(1, 50)).toBe(false)
    expect(bucket.take(1, 100)).toBe(true)
    // Refills only up to its capacity.
    expect(bucket.take(21, 1_000_000)).toBe(false)
    expect(bucket.take(20, 1_000_000)).toBe(true)
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
