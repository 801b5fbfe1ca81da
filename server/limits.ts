/**
 * Two token buckets in one object (one per connection, so it stays small): messages and bytes
 * flow in at their rates up to their capacities; a frame takes one message and its size in bytes.
 * A rate of 0 turns that bucket off.
 */
export class RateLimit {
  private messages: number
  private bytes: number
  private refilledAtMs: number

  constructor(
    private readonly limits: RateLimits,
    nowMs: number,
  ) {
    this.messages = limits.messageBurst
    this.bytes = limits.byteBurst
    this.refilledAtMs = nowMs
  }

  /** Takes one frame of `size` bytes at `nowMs` (monotonic); returns which budget it exceeds, taking nothing, or null. */
  take(size: number, nowMs: number): 'messages' | 'bytes' | null {
    const { messagesPerSecond, bytesPerSecond, messageBurst, byteBurst } = this.limits
    const elapsedS = (nowMs - this.refilledAtMs) / 1000
    this.refilledAtMs = nowMs
    this.messages = Math.min(messageBurst, this.messages + elapsedS * messagesPerSecond)
    this.bytes = Math.min(byteBurst, this.bytes + elapsedS * bytesPerSecond)
    if (messagesPerSecond > 0 && this.messages < 1) return 'messages'
    if (bytesPerSecond > 0 && this.bytes < size) return 'bytes'
    if (messagesPerSecond > 0) this.messages -= 1
    if (bytesPerSecond > 0) this.bytes -= size
    return null
  }
}

/** Rates and burst capacities shared by every connection of a server. */
export interface RateLimits {
  readonly messagesPerSecond: number
  readonly messageBurst: number
  readonly bytesPerSecond: number
  readonly byteBurst: number
}

/**
 * A {@link RateLimit} per key (a client address), for requests that hold no connection. A key
 * idle long enough for its buckets to be full again is forgotten (a new one is the same), so the
 * map holds only recent clients.
 */
export class KeyedRateLimit {
  private readonly buckets = new Map<string, { readonly limit: RateLimit; usedAtMs: number }>()
  private readonly refillMs: number

  constructor(private readonly limits: RateLimits) {
    const { messagesPerSecond, messageBurst, bytesPerSecond, byteBurst } = limits
    this.refillMs = Math.max(
      messagesPerSecond > 0 ? (messageBurst / messagesPerSecond) * 1000 : 0,
      bytesPerSecond > 0 ? (byteBurst / bytesPerSecond) * 1000 : 0,
    )
  }

  /** Like {@link RateLimit.take}, for `key`. */
  take(key: string, size: number, nowMs: number): 'messages' | 'bytes' | null {
    let entry = this.buckets.get(key)
    if (!entry) {
      if (this.buckets.size >= PRUNE_AT_KEYS) this.prune(nowMs)
      entry = { limit: new RateLimit(this.limits, nowMs), usedAtMs: nowMs }
      this.buckets.set(key, entry)
    }
    entry.usedAtMs = nowMs
    return entry.limit.take(size, nowMs)
  }

  private prune(nowMs: number): void {
    for (const [key, entry] of this.buckets)
      if (nowMs - entry.usedAtMs >= this.refillMs) this.buckets.delete(key)
  }
}

const PRUNE_AT_KEYS = 10_000

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
