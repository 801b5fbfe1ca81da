/**
 * A token bucket: `ratePerSecond` tokens flow in, up to `capacity`; taking more than are there
 * fails. One per limited quantity per connection (messages, bytes), so a burst is allowed and a
 * sustained flood is not.
 */
export class TokenBucket {
  private tokens: number
  private lastMs: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    nowMs: number,
  ) {
    this.tokens = capacity
    this.lastMs = nowMs
  }

  /** Takes `amount` tokens at time `nowMs` (monotonic ms); false, taking none, when too few are left. */
  take(amount: number, nowMs: number): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + ((nowMs - this.lastMs) * this.ratePerSecond) / 1000)
    this.lastMs = nowMs
    if (this.tokens < amount) return false
    this.tokens -= amount
    return true
  }
}

/** Counts open connections per key (a client address), refusing past `max` (0: no limit). */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>()

  constructor(private readonly max: number) {}

  /** Counts one more for `key`; false, counting nothing, when `key` is at the limit. */
  acquire(key: string): boolean {
    const count = this.counts.get(key) ?? 0
    if (this.max > 0 && count >= this.max) return false
    this.counts.set(key, count + 1)
    return true
  }

  release(key: string): void {
    const count = (this.counts.get(key) ?? 0) - 1
    if (count > 0) this.counts.set(key, count)
    else this.counts.delete(key)
  }
}
