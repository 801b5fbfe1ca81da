import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  browserAvailable,
  editorText,
  typeAtEnd,
  useEditorServer,
  waitForStatus,
} from '../helpers/browser.js'

/** Waits until the service worker holds this document page, so it can be reloaded offline. */
async function pageCachedForOffline(page: Page): Promise<void> {
  await page.waitForFunction(async () => (await caches.match('/d/')) !== undefined, null, { timeout: 15_000 })
}

describe.runIf(browserAvailable())('saving, reloading and working offline', () => {
  const env = useEditorServer()

  it('says Saved only once the server has the edit, and a fresh browser loads it after a restart', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, 'Kept on the server.')
    await waitForStatus(a.page, 'saved')
    await env.stop()
    await env.start()
    // A new person (no IndexedDB copy) can only get the text from the server's disk.
    const b = await env.open('Bob', '#0090ff')
    await expect.poll(() => editorText(b.page)).toBe('Kept on the server.')
  })

  it('keeps edits made while the server is down across a reload, and merges them when it is back', async () => {
    const a = await env.open('Alice', '#e5484d')
    const b = await env.open('Bob', '#0090ff')
    await typeAtEnd(a.page, 'Before the outage.')
    await expect.poll(() => editorText(b.page)).toBe('Before the outage.')
    await waitForStatus(b.page, 'saved')
    await pageCachedForOffline(b.page)

    await env.stop()
    await waitForStatus(b.page, 'offline')
    await typeAtEnd(b.page, '\nWritten offline by Bob.')
    await typeAtEnd(a.page, ' Alice too.')
    expect(await b.page.locator('.tandem-status').textContent()).toBe('Offline — edits kept on this device')

    // Closing or reloading with unsaved edits warns; Bob reloads anyway.
    const warned = new Promise<string>((resolve) =>
      b.page.once('dialog', (dialog) => {
        resolve(dialog.type())
        void dialog.accept()
      }),
    )
    await b.page.reload()
    expect(await warned).toBe('beforeunload')
    await b.page.locator('.tandem-content').waitFor()
    // The page came from the service worker and the text from IndexedDB: the server is still down.
    await expect.poll(() => editorText(b.page)).toBe('Before the outage.\nWritten offline by Bob.')

    await env.start()
    const merged = 'Before the outage. Alice too.\nWritten offline by Bob.'
    await expect.poll(() => editorText(a.page), { timeout: 20_000 }).toBe(merged)
    await expect.poll(() => editorText(b.page), { timeout: 20_000 }).toBe(merged)
    await waitForStatus(a.page, 'saved', 20_000)
    await waitForStatus(b.page, 'saved', 20_000)

    // And it is on the server's disk: a newcomer gets all of it.
    const c = await env.open('Carol', '#30a46c')
    await expect.poll(() => editorText(c.page)).toBe(merged)
  })
})
