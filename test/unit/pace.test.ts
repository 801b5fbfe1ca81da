import { afterEach, describe, expect, it, vi } from 'vitest'
import { Pace } from '../../persistence/pace.js'

describe('Pace', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs at the end of the turn after a quiet window, once however often it is asked', async () => {
    let runs = 0
    const pace = new Pace(100, () => {
      runs++
      pace.lastRun = performance.now()
    })
    pace.schedule(false)
    pace.schedule(false)
    pace.schedule(true)
    expect(runs).toBe(0)
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBe(1)
  })

  it('within the window waits for it to pass, unless asked to hurry', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    let runs = 0
    const pace = new Pace(100, () => {
      runs++
      pace.lastRun = performance.now()
    })
    pace.lastRun = performance.now()
    pace.schedule(false)
    vi.advanceTimersByTime(99)
    expect(runs).toBe(0)
    vi.advanceTimersByTime(1)
    expect(runs).toBe(1)
    // Asked to hurry within the window: at the end of this turn, and the timer is dropped.
    pace.schedule(false)
    pace.schedule(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBe(2)
    vi.advanceTimersByTime(200)
    expect(runs).toBe(2)
  })
})
