import { describe, expect, it } from 'vitest'
import { browserAvailable, editorText, typeAtEnd, useEditorServer } from '../helpers/browser.js'

describe.runIf(browserAvailable())('the app pages', () => {
  const env = useEditorServer()

  it('home creates a document with a readable name, opens one by name, and lists recent ones', async () => {
    const context = await env.browser.newContext()
    const page = await context.newPage()
    await page.goto(env.url('/'))
    await page.locator('#new-doc').click()
    await page.waitForURL(/\/d\/[a-z]+-[a-z]+-\d{3}$/)
    const created = decodeURIComponent(new URL(page.url()).pathname.slice(3))
    await page.locator('.tandem-content').waitFor()
    expect(await page.title()).toBe(`${created} · Tandem`)
    expect(await page.locator('#doc-title').textContent()).toBe(created)

    await page.goto(env.url('/'))
    await page.locator('#doc-name').fill('team/plans 2027')
    await page.locator('#open-doc button').click()
    await page.waitForURL(/\/d\/team\/plans%202027$/)
    await page.locator('.tandem-content').waitFor()
    expect(await page.locator('#doc-title').textContent()).toBe('team/plans 2027')

    await page.goto(env.url('/'))
    expect(await page.locator('#recent-list a').allTextContents()).toEqual(['team/plans 2027', created])
    await context.close()
  })

  it('share copies the document link (without the token)', async () => {
    const context = await env.browser.newContext()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'])
    const page = await context.newPage()
    await page.goto(`${env.url()}?token=secret-of-mine`)
    await page.locator('#share').click()
    await page.locator('#toast', { hasText: 'Link copied' }).waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(env.url())
    await context.close()
  })

  it('a new name and colour show up for the others at once, and are remembered', async () => {
    const a = await env.open('Alice', '#e5484d')
    const b = await env.open('Bob', '#0090ff')
    await a.page.locator('.tandem-avatar[title^="Alice (you)"]').click()
    await a.page.locator('.tandem-identity-name').fill('Alice Liddell')
    await a.page.locator('.tandem-swatch[aria-label="Colour #30a46c"]').click()
    await a.page.locator('.tandem-identity button[type=submit]').click()
    const avatar = b.page.locator('.tandem-avatar[title="Alice Liddell"]')
    await avatar.waitFor()
    expect(await avatar.textContent()).toBe('AL')
    expect(await avatar.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(48, 164, 108)')
    expect(await a.page.evaluate(() => localStorage.getItem('tandem:identity'))).toBe(
      JSON.stringify({ name: 'Alice Liddell', color: '#30a46c' }),
    )
  })

  it('?readonly shows the document and others’ edits, without a toolbar or a way to type', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, 'Written by Alice.')
    const context = await env.browser.newContext()
    const reader = await context.newPage()
    await reader.goto(`${env.url()}?readonly`)
    await expect.poll(() => editorText(reader)).toBe('Written by Alice.')
    expect(await reader.locator('.tandem-toolbar').count()).toBe(0)
    expect(await reader.locator('.tandem-content').getAttribute('contenteditable')).toBe('false')
    await reader.locator('.tandem-content').click()
    await reader.keyboard.type('sneaky')
    await typeAtEnd(a.page, ' More.')
    await expect.poll(() => editorText(reader)).toBe('Written by Alice. More.')
    expect(await editorText(a.page)).toBe('Written by Alice. More.')
    await context.close()
  })
})
