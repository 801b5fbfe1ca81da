import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { BACKUP_TYPE, decodeRecords, writeBackup } from '../../persistence/backup.js'
import { signToken } from '../../server/index.js'
import { connectClient } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { startServer, tempDataDir } from '../helpers/server.js'

/** Appends the numbers 0, 1, 2, … to a shared text, one per edit, until stopped. */
function typeNumbers(text: { insert(index: number, s: string): void; length: number }) {
  let n = 0
  let running = true
  const done = (async () => {
    // Bounded: at most 2,000 edits, 2 ms apart.
    while (running && n < 2000) {
      text.insert(text.length, `${n++},`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()
  return {
    typed: () => n,
    stop: async () => {
      running = false
      await done
    },
  }
}

/** Whether `text` is 0,1,2,…,k, for some k: a state the document passed through. */
function isPrefixOfNumbers(text: string): boolean {
  const parts = text.split(',').slice(0, -1)
  return parts.every((part, i) => part === String(i))
}

describe('GET /api/backup', () => {
  const SECRET = 'backup-test-secret-long-enough!!!!'
  const fixture = useServer({ authSecret: SECRET, versionQuietMs: 0 })

  it('copies every document and its versions consistently while two clients keep typing', async () => {
    const admin = await signToken(SECRET, {
      sub: 'ops',
      docs: ['*'],
      mode: 'rw',
      ttlSeconds: 600,
      admin: true,
    })
    const a = connectClient(fixture.running.url, 'one', { params: { token: admin } })
    const b = connectClient(fixture.running.url, 'two', { params: { token: admin } })
    const dir = await tempDataDir()
    try {
      await Promise.all([a.synced(), b.synced()])
      const base = `http://127.0.0.1:${fixture.running.port}`
      const typers = [typeNumbers(a.doc.getText('t')), typeNumbers(b.doc.getText('t'))]
      // Let some edits land, and a named version of one of them.
      while (typers.some((t) => t.typed() < 50)) await new Promise((resolve) => setTimeout(resolve, 5))
      const named = await fetch(`${base}/api/docs/one/versions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'while typing' }),
      })
      expect(named.status).toBe(201)

      expect((await fetch(`${base}/api/backup`)).status).toBe(401)
      const res = await fetch(`${base}/api/backup`, { headers: { authorization: `Bearer ${admin}` } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe(BACKUP_TYPE)
      const written = await writeBackup(dir, decodeRecords(Readable.fromWeb(res.body as never)))
      expect(written).toBeGreaterThan(0)
      await Promise.all(typers.map((t) => t.stop()))
    } finally {
      a.destroy()
      b.destroy()
    }

    // A server started on the backup as it is serves both documents, each a state it passed through.
    const restored = await startServer({ authSecret: SECRET }, dir)
    try {
      const base = `http://127.0.0.1:${restored.port}`
      const admin = await signToken(SECRET, {
        sub: 'ops',
        docs: ['*'],
        mode: 'rw',
        ttlSeconds: 600,
        admin: true,
      })
      const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${admin}` } })
      for (const name of ['one', 'two']) {
        const state = new Uint8Array(await (await get(`/api/docs/${name}?format=yjs`)).arrayBuffer())
        const doc = new Y.Doc()
        Y.applyUpdate(doc, state)
        const text = doc.getText('t').toString()
        expect(text.length).toBeGreaterThan(0)
        expect(isPrefixOfNumbers(text)).toBe(true)
      }
      const versions = (await (await get('/api/docs/one/versions')).json()).versions
      expect(versions.map((v: { name: string | null }) => v.name)).toContain('while typing')
    } finally {
      await restored.cleanup()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a directory that is not empty', async () => {
    const dir = await tempDataDir()
    const other = await startServer({}, dir)
    await other.stop()
    try {
      await expect(writeBackup(dir, (async function* () {})())).rejects.toThrow(
        `${dir} is not empty: a backup goes into a new directory`,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
