import { describe, expect, it } from 'vitest'
import { signToken } from '../../server/index.js'
import {
  browserAvailable,
  editorText,
  typeAtEnd,
  useEditorServer,
  waitForStatus,
} from '../helpers/browser.js'

const SECRET = 'browser-test-secret-that-is-long-enough'

describe.runIf(browserAvailable())('access control in the editor', () => {
  const env = useEditorServer({ authSecret: SECRET })
  const token = (mode: 'rw' | 'ro', docs = [env.room]) =>
    signToken(SECRET, { sub: mode, docs, mode, ttlSeconds: 600 })

  it('says access is denied without a token, and for a token to other documents', async () => {
    const none = await env.open('Nobody', '#7d6b5d')
    await waitForStatus(none.page, 'denied')
    expect(await none.page.locator('.tandem-status').textContent()).toBe(
      'Access denied: sign-in required or the link has expired',
    )
    expect(await none.page.locator('.tandem-content').getAttribute('contenteditable')).toBe('false')
    const elsewhere = await env.open('Wanderer', '#7d6b5d', `?token=${await token('rw', ['other/*'])}`)
    await waitForStatus(elsewhere.page, 'denied')
    expect(await elsewhere.page.locator('.tandem-status').textContent()).toBe(
      'Access denied: you do not have access to this document',
    )
  })

  it('edits and saves with a read-write token; a read-only token sees the edits and cannot type', async () => {
    const writer = await env.open('Writer', '#30a46c', `?token=${await token('rw')}`)
    await typeAtEnd(writer.page, 'Signed and saved.')
    await waitForStatus(writer.page, 'saved')
    const reader = await env.open('Reader', '#0090ff', `?token=${await token('ro')}`)
    await expect.poll(() => editorText(reader.page)).toBe('Signed and saved.')
    expect(await reader.page.locator('.tandem-toolbar').count()).toBe(0)
    expect(await reader.page.locator('.tandem-content').getAttribute('contenteditable')).toBe('false')
    // The reader is present for the writer all the same.
    await writer.page.locator('.tandem-avatar[title="Reader"]').waitFor()
  })
})
