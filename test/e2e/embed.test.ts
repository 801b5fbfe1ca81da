import { describe, expect, it } from 'vitest'
import { browserAvailable, editorText, typeAtEnd, useEditorServer } from '../helpers/browser.js'

describe.runIf(browserAvailable())('embedding', () => {
  const env = useEditorServer()

  it('the example page mounts two <tandem-editor> elements that edit one document', async () => {
    const context = await env.browser.newContext()
    const page = await context.newPage()
    await page.goto(env.url(`/embed?room=${env.room}`))
    await expect.poll(() => page.locator('tandem-editor .tandem-content').count()).toBe(2)
    await typeAtEnd(page, 'typed on the left')
    await expect.poll(() => editorText(page, 1)).toBe('typed on the left')
    // Each sees the other's name in its presence list.
    await expect.poll(() => page.locator('#left .tandem-avatar').count()).toBe(2)
    expect(await page.locator('#right .tandem-avatar[title="Left"]').count()).toBe(1)
    await context.close()
  })

  it('destroy() leaves no socket, timer, listener, style or element behind', async () => {
    const context = await env.browser.newContext()
    // Count what the page opens and closes, from before any of its scripts run.
    await context.addInitScript(() => {
      const live = { sockets: new Set<WebSocket>(), intervals: new Set<number>(), listeners: 0 }
      Object.assign(globalThis, { live })
      const NativeWebSocket = WebSocket
      globalThis.WebSocket = class extends NativeWebSocket {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols)
          live.sockets.add(this)
          this.addEventListener('close', () => live.sockets.delete(this))
        }
      }
      const setInterval = globalThis.setInterval
      const clearInterval = globalThis.clearInterval
      globalThis.setInterval = ((handler: TimerHandler, ms?: number, ...args: unknown[]) => {
        const id = setInterval(handler, ms, ...args)
        live.intervals.add(id)
        return id
      }) as typeof globalThis.setInterval
      globalThis.clearInterval = ((id?: number) => {
        if (id !== undefined) live.intervals.delete(id)
        clearInterval(id)
      }) as typeof globalThis.clearInterval
      const add = window.addEventListener.bind(window)
      const remove = window.removeEventListener.bind(window)
      window.addEventListener = ((...args: Parameters<typeof add>) => {
        live.listeners++
        add(...args)
      }) as typeof add
      window.removeEventListener = ((...args: Parameters<typeof remove>) => {
        live.listeners--
        remove(...args)
      }) as typeof remove
    })
    const page = await context.newPage()
    await page.goto(env.url(`/embed?room=${env.room}`))
    await expect.poll(() => page.locator('.tandem-status[data-kind="saved"]').count()).toBe(2)
    type Live = { sockets: Set<WebSocket>; intervals: Set<number>; listeners: number }
    const count = () =>
      page.evaluate(() => {
        const { live } = globalThis as unknown as { live: Live }
        return {
          sockets: [...live.sockets].filter((s) => s.readyState !== WebSocket.CLOSED).length,
          intervals: live.intervals.size,
          listeners: live.listeners,
          styles: document.querySelectorAll('style[data-tandem-editor]').length,
          editors: document.querySelectorAll('.tandem-editor').length,
        }
      })
    const mounted = await count()
    expect(mounted.sockets).toBe(2)
    expect(mounted.styles).toBe(1)
    expect(mounted.editors).toBe(2)
    // The counters see what the editors start (heartbeat intervals, beforeunload listeners).
    expect(mounted.intervals).toBeGreaterThan(0)
    expect(mounted.listeners).toBeGreaterThan(0)

    await page.evaluate(() => {
      for (const element of document.querySelectorAll('tandem-editor')) element.remove()
    })
    await expect.poll(count).toEqual({ sockets: 0, intervals: 0, listeners: 0, styles: 0, editors: 0 })
    await context.close()
  })

  it('fits a phone-sized screen', async () => {
    const context = await env.browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true })
    const page = await context.newPage()
    await page.goto(env.url())
    await page.locator('.tandem-content').waitFor()
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }))
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth)
    await expect.poll(() => page.locator('#share').isVisible()).toBe(true)
    await typeAtEnd(page, 'from a phone')
    await expect.poll(() => editorText(page)).toBe('from a phone')
    await context.close()
  })
})
