/** p50, p99 and max of `values` (0 for an empty list), rounded to 0.1 ms. */
export function percentiles(values: ArrayLike<number>): {
  readonly p50: number
  readonly p99: number
  readonly max: number
} {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 }
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
  return { p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? 0) }
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** `a / b`, rounded, or null when there is nothing to compare against. */
export function ratio(a: number, b: number): number | null {
  return b > 0 ? round(a / b, 2) : null
}

/** The samples of several runs in one array. */
export function pooled(lists: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(lists.reduce((sum, list) => sum + list.length, 0))
  let at = 0
  for (const list of lists) {
    all.set(list, at)
    at += list.length
  }
  return all
}
