import type { BrowserContext, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { signToken } from '../../server/index.js'
import { browserAvailable, type EditorServer, editorText, useEditorServer } from '../helpers/browser.js'

interface ListedDoc {
  readonly name: string
  readonly created: string
  readonly modified: string
  readonly size: number
}

/** Creates document `name` holding `text` through the API. */
async function put(env: EditorServer, name: string, text: string, token?: string): Promise<void> {
  const response = await fetch(env.url(`/api/docs/${encodeURIComponent(name)}`), {
    method: 'PUT',
    headers: { 'content-type': 'text/plain', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: text,
  })
  expect(response.status).toBe(201)
}

/** A fresh browser (own storage) on the home page with `query`. */
async function home(env: EditorServer, query = ''): Promise<{ context: BrowserContext; page: Page }> {
  const context = await env.browser.newContext({ locale: 'en-US', viewport: { width: 1000, height: 800 } })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('[home] page error:', error))
  await page.goto(env.url(`/${query}`))
  return { context, page }
}

const listed = (page: Page) => page.locator('#doc-list a').allTextContents()

describe.runIf(browserAvailable())('the home page lists the server’s documents', () => {
  const env = useEditorServer({ maxApiRequestsPerSecond: 1000 })

  it('lists them by name with times and size, filters by name, and opens one', async () => {
    await put(env, 'beta plan', 'Beta text')
    await put(env, 'alpha notes', 'Alpha text')
    await put(env, 'team/gamma plan', 'Gamma text')
    const { context, page } = await home(env)
    await expect.poll(() => listed(page)).toEqual(['alpha notes', 'beta plan', 'team/gamma plan'])
    expect(await page.locator('#docs-note').isHidden()).toBe(true)
    expect(await page.locator('#doc-more').isHidden()).toBe(true)

    const api = (await (await fetch(env.url('/api/docs'))).json()) as { docs: ListedDoc[] }
    const rows = await page.locator('#doc-list li').evaluateAll((items) =>
      items.map((item) => {
        const [modified, created] = Array.from(item.querySelectorAll('time'), (t) => t.dateTime)
        return {
          name: item.querySelector('a')?.textContent,
          modified,
          created,
          size: item.querySelector('.size')?.textContent,
        }
      }),
    )
    expect(rows).toEqual(
      api.docs.map((doc) => ({
        name: doc.name,
        modified: doc.modified,
        created: doc.created,
        size: `${doc.size} bytes`,
      })),
    )
    expect(await page.locator('#doc-list li .meta').first().textContent()).toMatch(
      /^edited (now|\d+ minutes? ago|this minute) · created [A-Z][a-z]{2} \d{1,2}, \d{4} · \d+ bytes$/,
    )

    await page.locator('#doc-search').fill('PLAN')
    await expect.poll(() => listed(page)).toEqual(['beta plan', 'team/gamma plan'])
    await page.locator('#doc-search').fill('nothing like it')
    await expect
      .poll(() => page.locator('#doc-list li.empty').textContent())
      .toBe('No document’s name contains “nothing like it”.')
    await page.locator('#doc-search').fill('gamma')
    await expect.poll(() => listed(page)).toEqual(['team/gamma plan'])

    await page.locator('#doc-list a', { hasText: 'team/gamma plan' }).click()
    await page.waitForURL(/\/d\/team\/gamma%20plan$/)
    await expect.poll(() => editorText(page)).toBe('Gamma text')
    await context.close()
  })

  it('pages through a long list with More', async () => {
    const names = Array.from({ length: 55 }, (_, i) => `doc ${String(i).padStart(2, '0')}`)
    await Promise.all(names.map((name) => put(env, name, name)))
    const { context, page } = await home(env)
    await expect.poll(() => listed(page)).toEqual(names.slice(0, 50))
    await page.locator('#doc-more').click()
    await expect.poll(() => listed(page)).toEqual(names)
    expect(await page.locator('#doc-more').isHidden()).toBe(true)
    await context.close()
  })
})

const SECRET = 'browser-test-secret-that-is-long-enough'

describe.runIf(browserAvailable())('the home page with auth on', () => {
  const env = useEditorServer({ authSecret: SECRET })

  it('without an admin token shows this device’s documents and says why; with one lists them all', async () => {
    const admin = await signToken(SECRET, {
      sub: 'admin',
      docs: [],
      mode: 'rw',
      ttlSeconds: 600,
      admin: true,
    })
    await put(env, 'listed doc', 'Listed text', admin)
    const { context, page } = await home(env)
    // Visiting a document (access denied or not) puts it in this browser's recent list.
    await page.goto(env.url('/d/seen%20here'))
    await page.locator('.tandem-content').waitFor()
    await page.goto(env.url('/'))
    await expect
      .poll(() => page.locator('#docs-note').textContent())
      .toBe(
        'Only an administrator’s link lists every document on this server; below are the ones opened on this device.',
      )
    expect(await page.locator('#docs').isHidden()).toBe(true)
    expect(await page.locator('#recent-list a').allTextContents()).toEqual(['seen here'])

    await page.goto(env.url(`/?token=${admin}`))
    await expect.poll(() => listed(page)).toEqual(['listed doc'])
    expect(await page.locator('#docs-note').isHidden()).toBe(true)
    // The token goes on to the documents, which need it as much as the list did.
    expect(await page.locator('#doc-list a').getAttribute('href')).toBe(`/d/listed%20doc?token=${admin}`)
    await page.locator('#doc-list a').click()
    await expect.poll(() => editorText(page)).toBe('Listed text')
    await page.locator('.tandem-status[data-kind="saved"]').waitFor()
    await context.close()
  })
})
