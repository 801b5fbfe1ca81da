/**
 * Resolves once `check()` is true, re-checking whenever `emitter` emits `event`; rejects after
 * `timeoutMs` with a message that names the event and `what` was awaited.
 */
export function waitFor(
  emitter: { on(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown },
  event: string,
  check: () => boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  if (check()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onEvent = () => {
      if (!check()) return
      cleanup()
      resolve()
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`timed out after ${timeoutMs} ms waiting on "${event}" for ${what}`))
    }, timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      emitter.off(event, onEvent)
    }
    emitter.on(event, onEvent)
  })
}

/** Polls `check` every few milliseconds until it is true; for state that has no event (a file, a process). */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
