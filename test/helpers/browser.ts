import { existsSync } from 'node:fs'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'
import type { ServerOptions } from '../../server/index.js'
import { assertBuilt, distPath } from './built.js'
import { useServer } from './fixture.js'
import type { RunningServer } from './server.js'

/** Debian's Chromium: the browser tests never download one. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Whether the browser tests can run here. Without Chromium they are skipped, loudly; with
 * `TANDEM_REQUIRE_BROWSER=1` (set by .ci/run) a missing Chromium is an error instead.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true
  if (process.env.TANDEM_REQUIRE_BROWSER === '1') {
    throw new Error(
      `TANDEM_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM} (apt-get install chromium)`,
    )
  }
  console.warn(`\n!!! SKIPPING BROWSER TESTS: no Chromium at ${CHROMIUM} (apt-get install chromium) !!!\n`)
  return false
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Root in CI containers cannot use Chromium's sandbox; the pages are our own.
    // No calls home: this machine's closed network refuses them, noisily.
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * A page in its own browser context: its own storage, IndexedDB and BroadcastChannel, like a
 * second person on another machine (pages of one context would also sync through BroadcastChannel
 * and hide server bugs).
 */
export async function openPerson(
  browser: Browser,
  url: string,
  identity: { readonly name: string; readonly color: string },
): Promise<{ readonly context: BrowserContext; readonly page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } })
  await context.addInitScript((value) => {
    localStorage.setItem('tandem:identity', value)
  }, JSON.stringify(identity))
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error(`[${identity.name}] page error:`, error))
  await page.goto(url)
  await page.locator('.tandem-content').waitFor()
  return { context, page }
}

/** The document's text as the page shows it, one line per top-level block, without remote cursors. */
export function editorText(page: Page, index = 0): Promise<string> {
  return page
    .locator('.tandem-content')
    .nth(index)
    .evaluate((content) => {
      const copy = content.cloneNode(true) as HTMLElement
      for (const cursor of copy.querySelectorAll('.ProseMirror-yjs-cursor')) cursor.remove()
      return Array.from(copy.children, (block) => block.textContent ?? '').join('\n')
    })
}

/** Waits until the status line says `kind` (e.g. `saved`). */
export async function waitForStatus(page: Page, kind: string, timeoutMs = 15_000): Promise<void> {
  await page.locator(`.tandem-status[data-kind="${kind}"]`).first().waitFor({ timeout: timeoutMs })
}

export interface EditorServer {
  readonly browser: Browser
  readonly running: RunningServer
  /** A room name of this test's own. */
  readonly room: string
  /** The app's URL of `path` (default: this test's document). */
  url(path?: string): string
  /** Opens the document (with `query`, e.g. `?token=…`) as a new person (own browser context). */
  open(
    name: string,
    color: string,
    query?: string,
  ): Promise<{ readonly context: BrowserContext; readonly page: Page }>
  /** Stops the server; `start()` brings it back on the same port and data directory. */
  stop(): Promise<void>
  start(): Promise<void>
}

/**
 * One Chromium for the file, and for each test a fresh server serving the built editor (refusing
 * to start from a dist/ older than the sources), a room of its own, and contexts that are closed
 * after the test. Call at the top of a `describe`.
 */
export function useEditorServer(options: ServerOptions = {}): EditorServer {
  let browser: Browser | undefined
  let room = ''
  let counter = 0
  const contexts: BrowserContext[] = []
  // Registered first: vitest runs after-hooks in reverse (sequence.hooks 'stack', the default),
  // so the server goes after the contexts.
  const server = useServer({ ...options, staticDir: distPath('editor') })
  beforeAll(async () => {
    assertBuilt()
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  beforeEach(() => {
    room = `e2e-${process.pid}-${++counter}`
  })
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => {})
  })
  const must = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not ready (use inside a test)`)
    return value
  }
  const fixture: EditorServer = {
    get browser() {
      return must(browser, 'browser')
    },
    get running() {
      return server.running
    },
    get room() {
      return room
    },
    url: (path = `/d/${encodeURIComponent(room)}`) => `http://127.0.0.1:${fixture.running.port}${path}`,
    async open(name, color, query = '') {
      const person = await openPerson(fixture.browser, `${fixture.url()}${query}`, { name, color })
      contexts.push(person.context)
      return person
    },
    stop: () => server.running.stop(),
    async start() {
      await server.restart()
    },
  }
  return fixture
}

/** Clicks at the end of the document (the `index`th editor's) and types `text` key by key. */
export async function typeAtEnd(page: Page, text: string, index = 0): Promise<void> {
  const last = page.locator('.tandem-content').nth(index).locator('> :last-child')
  const box = await last.boundingBox()
  if (!box) throw new Error('the document has no visible block')
  // Click just inside the right edge of the last block, then go to the end of its line.
  await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2)
  await page.keyboard.press('End')
  await selectionRead(page)
  await page.keyboard.type(text, { delay: 5 })
}

/** Types `text` at the start of the first block of the `index`th editor on the page. */
export async function typeAtStart(page: Page, text: string, index = 0): Promise<void> {
  const first = page.locator('.tandem-content').nth(index).locator('> :first-child')
  const box = await first.boundingBox()
  if (!box) throw new Error('the document has no visible block')
  // Click just inside the left edge of the first block, then go to the start of its line.
  await page.mouse.click(box.x + 2, box.y + box.height / 2)
  await page.keyboard.press('Home')
  await selectionRead(page)
  await page.keyboard.type(text, { delay: 5 })
}

/**
 * Waits until ProseMirror has read the DOM selection: it does on 'selectionchange', a task after
 * a click or a Shift+arrow; keys or buttons pressed before would use the old selection. Two frames
 * later it has been read.
 */
export async function selectionRead(page: Page): Promise<void> {
  await page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  )
}
