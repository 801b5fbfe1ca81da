/**
 * Scheduling helpers of the store's write pipeline: a deferred promise, and a job paced to at
 * most one run per window.
 */
import type { StoreError } from './store.js'

const noop = (): void => undefined

/** A promise with its settlers; marked handled, so a failure nobody waits for crashes nothing. */
export class Deferred {
  readonly promise: Promise<void>
  resolve!: () => void
  reject!: (error: StoreError) => void

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.promise.catch(noop)
  }
}

/**
 * Runs a job at most once per window: at the end of this turn of the event loop if the window
 * since its last run (which the job records) has passed or it is asked to hurry, else once it
 * passes. Whatever arrives meanwhile waits for that run.
 */
export class Pace {
  /** When the job last ran (performance.now()). */
  lastRun = Number.NEGATIVE_INFINITY
  private timer: NodeJS.Timeout | null = null
  private soon = false

  constructor(
    private readonly windowMs: number,
    private readonly job: () => void,
  ) {}

  schedule(hurry: boolean): void {
    if (this.soon) return
    const wait = hurry ? 0 : this.lastRun + this.windowMs - performance.now()
    if (wait > 0) {
      this.timer ??= setTimeout(this.run, wait)
      return
    }
    this.cancel()
    this.soon = true
    setImmediate(this.run)
  }

  /** Drops a pending timer (the job ran some other way). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private readonly run = (): void => {
    this.cancel()
    this.soon = false
    this.job()
  }
}
