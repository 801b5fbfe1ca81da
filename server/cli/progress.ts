/**
 * A progress line for long commands (`backup: 120/400 documents`), rewritten in place with `\r`
 * on a terminal, and nothing at all otherwise (a log file or a pipe gets no noise).
 */
import type { CommandIO } from './format.js'

/** Least time between two rewrites of the line, in ms. */
const REDRAW_INTERVAL_MS = 100

export interface Progress {
  /** Reports `done` (of `total`, when known). */
  update(done: number, total?: number): void
  /** Clears the line; idempotent. */
  end(): void
}

/** A progress line labelled `label` on `io.stderr`, or one that writes nothing when it is not a TTY. */
export function progress(io: CommandIO, label: string): Progress {
  const stream = io.stderr
  if (stream.isTTY !== true) return { update() {}, end() {} }
  let drawnAt = Number.NEGATIVE_INFINITY
  let drawn = false
  return {
    update(done, total) {
      const now = performance.now()
      if (now - drawnAt < REDRAW_INTERVAL_MS && done !== total) return
      drawnAt = now
      drawn = true
      stream.write(`\r${label}: ${done}${total === undefined ? '' : `/${total}`} documents\u001b[K`)
    },
    end() {
      if (drawn) stream.write('\r\u001b[K')
      drawn = false
    },
  }
}
