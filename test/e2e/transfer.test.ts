import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import {
  browserAvailable,
  editorText,
  typeAtEnd,
  useEditorServer,
  waitForStatus,
} from '../helpers/browser.js'

/** Clicks an export button and returns the downloaded file's name and text. */
async function download(page: Page, command: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.locator(`.tandem-toolbar [data-command="${command}"]`).click(),
  ])
  const path = await file.path()
  return { name: file.suggestedFilename(), text: await readFile(path, 'utf8') }
}

describe.runIf(browserAvailable())('export and import in Chromium', () => {
  const env = useEditorServer()

  it('downloads the document as Markdown and as an HTML page named after it', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, '# Plan\n- **bold** item')
    await a.page.locator('.tandem-content ul li strong', { hasText: 'bold' }).waitFor()

    expect(await download(a.page, 'export-markdown')).toEqual({
      name: `${env.room}.md`,
      text: '# Plan\n\n- **bold** item\n',
    })
    const html = await download(a.page, 'export-html')
    expect(html.name).toBe(`${env.room}.html`)
    expect(html.text).toBe(
      '<!doctype html>\n<html><head><meta charset="utf-8"><title>' +
        env.room +
        '</title></head><body><h1>Plan</h1><ul><li><p><strong>bold</strong> item</p></li></ul></body></html>\n',
    )
  })

  it('imports a file as one change the other person sees, which undo takes back', async () => {
    const a = await env.open('Alice', '#e5484d')
    const b = await env.open('Bob', '#0090ff')
    await typeAtEnd(a.page, 'before')
    await expect.poll(() => editorText(b.page)).toBe('before')

    const [chooser] = await Promise.all([
      a.page.waitForEvent('filechooser'),
      a.page.locator('.tandem-toolbar [data-command="import"]').click(),
    ])
    await chooser.setFiles({
      name: 'notes.md',
      mimeType: 'text/markdown',
      buffer: Buffer.from('# Imported\n\n- [x] done\n\n<script>alert(1)</script> [x](javascript:alert(1))\n'),
    })
    await expect
      .poll(() => editorText(b.page))
      .toBe('Imported\ndone\n<script>alert(1)</script> [x](javascript:alert(1))')
    expect(
      await b.page.locator('.tandem-content ul[data-type="tasks"] li[data-checked="true"]').count(),
    ).toBe(1)
    expect(await b.page.locator('.tandem-content a').count()).toBe(0)
    await waitForStatus(a.page, 'saved')

    await a.page.locator('.tandem-toolbar [data-command="undo"]').click()
    await expect.poll(() => editorText(b.page)).toBe('before')
  })

  it('refuses a file that is not Markdown or HTML, and says so', async () => {
    const a = await env.open('Alice', '#e5484d')
    await typeAtEnd(a.page, 'kept')
    await a.page.locator('.tandem-toolbar input[type=file]').setInputFiles({
      name: 'picture.png',
      mimeType: 'image/png',
      buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    })
    await expect
      .poll(() => a.page.locator('.tandem-file-error').textContent())
      .toBe('picture.png is not a Markdown (.md) or HTML (.html) file')
    expect(await editorText(a.page)).toBe('kept')
  })
})
