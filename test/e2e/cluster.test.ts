/**
 * The editor as a cluster serves it: three nodes on Redis behind nginx running
 * deploy/nginx-cluster.conf (see test/integration/cluster-nginx.test.ts), two people in Chromium
 * whose pages and sockets go through nginx and land on different nodes.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  browserAvailable,
  editorText,
  launchChromium,
  openPerson,
  typeAtEnd,
  typeAtStart,
  waitForStatus,
} from '../helpers/browser.js'
import { type RunningCluster, startCluster } from '../helpers/cluster.js'
import { nginxAvailable } from '../helpers/nginx.js'
import { redisAvailable } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

describe.runIf(redisAvailable() && nginxAvailable() && browserAvailable())(
  'the editor on a cluster behind nginx',
  () => {
    let cluster: RunningCluster
    let browser: Browser
    const contexts: BrowserContext[] = []

    beforeAll(async () => {
      cluster = await startCluster({ nodes: 3 })
      browser = await launchChromium()
    }, 90_000)
    afterAll(async () => {
      for (const context of contexts) await context.close().catch(() => {})
      await browser?.close()
      await cluster?.cleanup()
    })

    const url = (room: string) => `${cluster.httpUrl}/d/${encodeURIComponent(room)}`
    const total = async () => (await cluster.connections()).reduce((a, b) => a + b, 0)

    /** Opens the document as a new person through nginx, and says which node took its socket. */
    async function open(room: string, name: string, color: string): Promise<{ page: Page; node: number }> {
      let page: Page | undefined
      const node = await cluster.landing(async () => {
        const person = await openPerson(browser, url(room), { name, color })
        contexts.push(person.context)
        page = person.page
      })
      return { page: page as Page, node }
    }

    it('two people on different nodes see each other’s typing, cursors, and “saved”', async (context) => {
      context.onTestFailed(async () => console.error(await cluster.logs()))
      const room = `cluster-${process.pid}`
      const alice = await open(room, 'Alice Adams', '#e5484d')
      // Every request through nginx takes the next node, the page's files as well as its socket: if
      // Bob's socket lands on Alice's node, close his page, move the rotation on one, and open again.
      let bob = await open(room, 'Bob Brown', '#0090ff')
      for (let attempt = 1; bob.node === alice.node && attempt < 3; attempt++) {
        const connected = await total()
        await bob.page.context().close()
        await until(async () => (await total()) === connected - 1, 10_000, 'Bob’s socket to close')
        expect((await fetch(`${cluster.httpUrl}/healthz`)).status).toBe(200)
        bob = await open(room, 'Bob Brown', '#0090ff')
      }
      expect(bob.node, 'Alice and Bob on different nodes').not.toBe(alice.node)

      await typeAtEnd(alice.page, 'Typed on one node.')
      await expect.poll(() => editorText(bob.page), { timeout: 15_000 }).toBe('Typed on one node.')
      await typeAtStart(bob.page, 'Bob, elsewhere: ')
      await expect
        .poll(() => editorText(alice.page), { timeout: 15_000 })
        .toBe('Bob, elsewhere: Typed on one node.')
      await alice.page.locator('.tandem-cursor-label', { hasText: 'Bob Brown' }).waitFor()
      await bob.page.locator('.tandem-cursor-label', { hasText: 'Alice Adams' }).waitFor()
      // "Saved" comes from each one's own node, once Redis has the edits.
      await waitForStatus(alice.page, 'saved')
      await waitForStatus(bob.page, 'saved')
    })
  },
)
