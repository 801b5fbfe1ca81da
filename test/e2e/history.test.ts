import { mkdir } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { signToken } from '../../server/index.js'
import {
  browserAvailable,
  editorText,
  typeAtEnd,
  useEditorServer,
  waitForStatus,
} from '../helpers/browser.js'

/** Saves a version named `name` through the history panel (open) and waits until it is listed. */
async function saveNamed(page: Page, name: string): Promise<void> {
  await page.locator('.tandem-history-save').click()
  await page.locator('.tandem-history-name').fill(name)
  await page.locator('.tandem-history-form button[type=submit]').click()
  await expect.poll(() => page.locator('.tandem-history-message').textContent()).toBe(`Saved ${name}.`)
  await page.locator('.tandem-version-item', { hasText: name }).waitFor()
}

/** The titles of the listed versions, as shown (newest first). */
function listed(page: Page): Promise<string[]> {
  return page.locator('.tandem-version-item .tandem-version-name').allTextContents()
}

/** Selects the version titled `name` and waits until the version view has drawn it. */
async function select(page: Page, name: string): Promise<void> {
  await page.locator('.tandem-version-item', { hasText: name }).click()
  await page.locator('.tandem-version-content[aria-busy="false"]').waitFor()
  await expect
    .poll(() => page.locator('.tandem-version-item[aria-pressed="true"] .tandem-version-name').textContent())
    .toBe(name)
}

const versionText = (page: Page) =>
  page.locator('.tandem-version-content').evaluate((el) => el.textContent ?? '')

describe.runIf(browserAvailable())('version history in Chromium', () => {
  // Versions only on request: the test decides what each one holds.
  const env = useEditorServer({ versionQuietMs: 0 })

  it('saves named versions, shows them read-only with the changes marked, and restores one for everyone', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, 'Hello world.')
    await waitForStatus(a.page, 'saved')
    await a.page.locator('.tandem-toolbar [data-command="history"]').click()
    expect(
      await a.page.locator('.tandem-toolbar [data-command="history"]').getAttribute('aria-pressed'),
    ).toBe('true')
    await expect
      .poll(() => a.page.locator('.tandem-history-note').textContent())
      .toBe('No versions yet. They are saved as you edit, and with Save version…')
    await saveNamed(a.page, 'Draft')

    // A deletion (the full stop) and an insertion after it.
    await typeAtEnd(a.page, '')
    await a.page.keyboard.press('Backspace')
    await a.page.keyboard.type('! More text.', { delay: 5 })
    await expect.poll(() => editorText(a.page)).toBe('Hello world! More text.')
    await saveNamed(a.page, 'With ending')

    expect(await listed(a.page)).toEqual(['With ending', 'Draft'])
    expect(await a.page.locator('.tandem-version-item .tandem-version-authors').allTextContents()).toEqual([
      'Alice',
      'Alice',
    ])
    const times = await a.page
      .locator('.tandem-version-item time')
      .evaluateAll((els) => els.map((el) => (el as HTMLTimeElement).dateTime))
    expect(times).toHaveLength(2)
    for (const time of times) expect(Date.now() - Date.parse(time)).toBeLessThan(60_000)

    // The first version: as it was, read-only, all of it new since the empty document.
    await select(a.page, 'Draft')
    const version = a.page.locator('.tandem-version-content')
    expect(await versionText(a.page)).toBe('Hello world.')
    expect(await version.getAttribute('contenteditable')).toBe('false')
    expect(await a.page.locator('[contenteditable="true"]').count()).toBe(0)
    expect(await a.page.locator('.tandem-page').isHidden()).toBe(true)
    expect(await a.page.locator('.tandem-toolbar [data-command="bold"]').isDisabled()).toBe(true)
    expect(await version.locator('p.tandem-ychange-added').count()).toBe(1)
    expect(await version.locator('ins.tandem-ychange-added').allTextContents()).toEqual(['Hello world.'])
    expect(await version.locator('del').count()).toBe(0)
    await version.click()
    await a.page.keyboard.type('typed')
    expect(await versionText(a.page)).toBe('Hello world.')

    // The later version: the deleted full stop struck through, the insertion marked.
    await select(a.page, 'With ending')
    await expect.poll(() => versionText(a.page)).toBe('Hello world.! More text.')
    expect(await version.locator('ins.tandem-ychange-added').allTextContents()).toEqual(['! More text.'])
    expect(await version.locator('del.tandem-ychange-removed').allTextContents()).toEqual(['.'])
    expect(await version.locator('p.tandem-ychange-added, p.tandem-ychange-removed').count()).toBe(0)
    expect(
      await version
        .locator('ins.tandem-ychange-added')
        .evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).textDecorationLine]),
    ).toEqual(['rgb(211, 249, 216)', 'none'])
    expect(
      await version
        .locator('del.tandem-ychange-removed')
        .evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).textDecorationLine]),
    ).toEqual(['rgb(255, 227, 227)', 'line-through'])
    await mkdir('test-results', { recursive: true })
    await a.page.screenshot({ path: 'test-results/history.png' })

    // Back to the document: nothing typed while a version was shown reached it.
    await a.page.locator('.tandem-version-back').click()
    expect(await a.page.locator('.tandem-version').isHidden()).toBe(true)
    expect(await a.page.locator('.tandem-content').getAttribute('contenteditable')).toBe('true')
    expect(await editorText(a.page)).toBe('Hello world! More text.')

    // Restore the first version while Bob has the document open.
    const b = await env.open('Bob', '#0090ff')
    await expect.poll(() => editorText(b.page)).toBe('Hello world! More text.')
    await select(a.page, 'Draft')
    await a.page.locator('.tandem-version-restore').click()
    await a.page.locator('.tandem-version-confirm-restore').click()
    await expect.poll(() => editorText(b.page)).toBe('Hello world.')
    await expect.poll(() => editorText(a.page)).toBe('Hello world.')
    expect(await a.page.locator('.tandem-version').isHidden()).toBe(true)
    expect(await a.page.locator('.tandem-history-message').textContent()).toBe(
      'Restored Draft (now Restored version 1).',
    )
    await expect.poll(() => listed(a.page)).toEqual(['Restored version 1', 'With ending', 'Draft'])

    // Bob's history lists the restore too. The restore was a diff: it kept the last full stop and
    // deleted what came before it.
    await b.page.locator('.tandem-toolbar [data-command="history"]').click()
    await expect.poll(() => listed(b.page)).toEqual(['Restored version 1', 'With ending', 'Draft'])
    await select(b.page, 'Restored version 1')
    expect(await versionText(b.page)).toBe('Hello world! More text.')
    expect(
      await b.page.locator('.tandem-version-content del.tandem-ychange-removed').allTextContents(),
    ).toEqual(['! More text'])
    expect(await b.page.locator('.tandem-version-content ins.tandem-ychange-added').count()).toBe(0)
  })

  it('a read-only person looks at versions but cannot save or restore them', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, 'Only words.')
    await waitForStatus(a.page, 'saved')
    const created = await fetch(env.url(`/api/docs/${encodeURIComponent(env.room)}/versions`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'First' }),
    })
    expect(created.status).toBe(201)

    const reader = await env.open('Reader', '#0090ff', '?readonly')
    expect(await reader.page.locator('.tandem-toolbar').count()).toBe(0)
    await reader.page.locator('.tandem-bar .tandem-history-toggle').click()
    await expect.poll(() => listed(reader.page)).toEqual(['First'])
    expect(await reader.page.locator('.tandem-history-save').count()).toBe(0)
    await select(reader.page, 'First')
    expect(await versionText(reader.page)).toBe('Only words.')
    expect(await reader.page.locator('.tandem-version-restore').count()).toBe(0)
    await reader.page.locator('.tandem-version-back').click()
    await expect.poll(() => editorText(reader.page)).toBe('Only words.')
    await reader.page.locator('.tandem-history-close').click()
    expect(await reader.page.locator('.tandem-history-panel').isHidden()).toBe(true)
    expect(await reader.page.locator('.tandem-history-toggle').getAttribute('aria-pressed')).toBe('false')
  })
})

const SECRET = 'browser-test-secret-that-is-long-enough'

describe.runIf(browserAvailable())('version history with auth on', () => {
  const env = useEditorServer({ authSecret: SECRET, versionQuietMs: 0 })
  const token = (mode: 'rw' | 'ro', docs = [env.room]) =>
    signToken(SECRET, { sub: `${mode}-user`, name: `Token ${mode}`, docs, mode, ttlSeconds: 600 })

  it('saves with a read-write token (credited to its user), and says why it cannot list without access', async () => {
    const writer = await env.open('Writer', '#30a46c', `?token=${await token('rw')}`)
    await typeAtEnd(writer.page, 'Signed.')
    await waitForStatus(writer.page, 'saved')
    await writer.page.locator('.tandem-toolbar [data-command="history"]').click()
    await saveNamed(writer.page, 'Signed draft')
    expect(await writer.page.locator('.tandem-version-authors').allTextContents()).toEqual(['Token rw'])
    // A name that is taken.
    await writer.page.locator('.tandem-history-save').click()
    await writer.page.locator('.tandem-history-name').fill('Signed draft')
    await writer.page.locator('.tandem-history-form button[type=submit]').click()
    await expect
      .poll(() => writer.page.locator('.tandem-history-message[data-kind="error"]').textContent())
      .toBe('A version named “Signed draft” exists already.')

    const none = await env.open('Nobody', '#7d6b5d')
    await waitForStatus(none.page, 'denied')
    await none.page.locator('.tandem-toolbar [data-command="history"]').click()
    await expect
      .poll(() => none.page.locator('.tandem-history-message[data-kind="error"]').textContent())
      .toBe('Sign-in required, or the link has expired.')

    const elsewhere = await env.open('Wanderer', '#7d6b5d', `?token=${await token('ro', ['other/*'])}`)
    await waitForStatus(elsewhere.page, 'denied')
    await elsewhere.page.locator('.tandem-history-toggle').click()
    await expect
      .poll(() => elsewhere.page.locator('.tandem-history-message[data-kind="error"]').textContent())
      .toMatch(/^Not allowed: .+\.$/)
    expect(await elsewhere.page.locator('.tandem-version-item').count()).toBe(0)
  })
})
