import { mkdir } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  browserAvailable,
  editorText,
  selectionRead,
  typeAtEnd,
  typeAtStart,
  useEditorServer,
  waitForStatus,
} from '../helpers/browser.js'

describe.runIf(browserAvailable())('people editing together in Chromium', () => {
  const env = useEditorServer()

  it('converge when both type at once, and see each other by name in cursors and presence', async () => {
    const a = await env.open('Alice Adams', '#e5484d')
    const b = await env.open('Bob Brown', '#0090ff')
    await typeAtEnd(a.page, 'middle.')
    await expect.poll(() => editorText(b.page)).toBe('middle.')
    // Both type at once in one paragraph, Bob at its start and Alice at its end. (Two cursors at
    // the very same place interleave: y-prosemirror moves a cursor at a paragraph's end past
    // text another person inserts there.)
    await Promise.all([typeAtEnd(a.page, ' alpha from Alice.'), typeAtStart(b.page, 'bravo from Bob. ')])
    await expect.poll(() => editorText(a.page)).toBe('bravo from Bob. middle. alpha from Alice.')
    await expect.poll(() => editorText(b.page)).toBe(await editorText(a.page))

    await a.page.locator('.tandem-cursor-label', { hasText: 'Bob Brown' }).waitFor()
    await b.page.locator('.tandem-cursor-label', { hasText: 'Alice Adams' }).waitFor()
    await expect.poll(() => a.page.locator('.tandem-avatar').count()).toBe(2)
    expect(await a.page.locator('.tandem-avatar').nth(1).getAttribute('title')).toBe('Bob Brown')
    expect(await a.page.locator('.tandem-avatar').nth(1).textContent()).toBe('BB')
    await mkdir('test-results', { recursive: true })
    await a.page.screenshot({ path: 'test-results/two-cursors.png' })

    await b.context.close()
    await expect.poll(() => a.page.locator('.tandem-avatar').count()).toBe(1)
    await waitForStatus(a.page, 'saved')
  })

  it('undo on one page undoes only that person’s text', async () => {
    const a = await env.open('Alice', '#e5484d')
    const b = await env.open('Bob', '#0090ff')
    await typeAtEnd(a.page, 'Alice wrote this.')
    await expect.poll(() => editorText(b.page)).toBe('Alice wrote this.')
    await typeAtEnd(b.page, '\nBob wrote that.')
    await expect.poll(() => editorText(a.page)).toBe('Alice wrote this.\nBob wrote that.')

    await a.page.keyboard.press('Control+z')
    // Alice's text (and the paragraph it made) is gone on both pages; Bob's is untouched.
    await expect.poll(() => editorText(b.page)).toBe('Bob wrote that.')
    expect(await editorText(a.page)).toBe('Bob wrote that.')
    await a.page.keyboard.press('Control+Shift+z')
    await expect.poll(() => editorText(b.page)).toBe('Alice wrote this.\nBob wrote that.')
  })

  it('formats with markdown shortcuts and the toolbar, and the other page shows it', async () => {
    const a = await env.open('Alice', '#e5484d')
    const b = await env.open('Bob', '#0090ff')
    await typeAtEnd(a.page, '# Plan\n- **bold** item\n')
    await a.page.keyboard.press('Enter')
    await a.page.keyboard.type('[ ] a task', { delay: 5 })
    await b.page.locator('.tandem-content h1', { hasText: 'Plan' }).waitFor()
    await b.page.locator('.tandem-content ul > li strong', { hasText: 'bold' }).waitFor()
    await b.page.locator('.tandem-content ul[data-type="tasks"] li', { hasText: 'a task' }).waitFor()

    // Checking the box on one page checks it on the other.
    await a.page.locator('.tandem-task input[type=checkbox]').click()
    await b.page.locator('.tandem-task[data-checked="true"]').waitFor()

    // The toolbar reflects the selection and applies marks.
    await a.page.keyboard.press('Enter')
    await a.page.keyboard.press('Enter')
    await a.page.locator('.tandem-toolbar [data-command="italic"]').click()
    await a.page.keyboard.type('slanted', { delay: 5 })
    expect(await a.page.locator('.tandem-toolbar [data-command="italic"]').getAttribute('aria-pressed')).toBe(
      'true',
    )
    await b.page.locator('.tandem-content em', { hasText: 'slanted' }).waitFor()

    // Links: select a word, press Link, give the address in the toolbar's form.
    await a.page.keyboard.type(' docs', { delay: 5 })
    for (let i = 0; i < 4; i++) await a.page.keyboard.press('Shift+ArrowLeft')
    await selectionRead(a.page)
    await a.page.locator('.tandem-toolbar [data-command="link"]').click()
    const address = a.page.locator('.tandem-link-form input')
    await address.fill('javascript:alert(1)')
    await address.press('Enter')
    await a.page.locator('.tandem-link-error', { hasText: 'Only http(s)' }).waitFor()
    await address.fill('https://example.com/docs')
    await address.press('Enter')
    await b.page.locator('.tandem-content a[href="https://example.com/docs"]', { hasText: 'docs' }).waitFor()
    expect(await a.page.locator('.tandem-link-form').isHidden()).toBe(true)
    expect(await a.page.locator('.tandem-content a[href^="javascript"]').count()).toBe(0)
  })
})
