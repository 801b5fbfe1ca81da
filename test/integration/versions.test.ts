import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { readDoc, serializeMarkdown } from '../../content/convert.js'
import { signToken } from '../../server/index.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import type { RunningServer } from '../helpers/server.js'
import { until, waitFor } from '../helpers/wait.js'

async function api(running: RunningServer, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`http://127.0.0.1:${running.port}${path}`, {
    method,
    headers: {
      ...(body === undefined
        ? {}
        : { 'content-type': typeof body === 'string' ? 'text/markdown' : 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, text, json: () => JSON.parse(text) }
}

interface Version {
  id: number
  at: string
  name: string | null
  authors: { id: string; name?: string }[]
}

const versionsOf = async (running: RunningServer, doc: string): Promise<Version[]> =>
  (await api(running, 'GET', `/api/docs/${encodeURIComponent(doc)}/versions`)).json().versions

const markdown = (doc: Y.Doc) => serializeMarkdown(readDoc(doc))

/** Types `text` at the end of the first paragraph of a client's document. */
function type(doc: Y.Doc, text: string): void {
  const fragment = doc.getXmlFragment('prosemirror')
  doc.transact(() => {
    if (fragment.length === 0) fragment.insert(0, [new Y.XmlElement('paragraph')])
    const paragraph = fragment.get(0) as Y.XmlElement
    if (paragraph.length === 0) paragraph.insert(0, [new Y.XmlText()])
    const node = paragraph.get(0) as Y.XmlText
    node.insert(node.length, text)
  })
}

function named(provider: WebsocketProvider, name: string): void {
  provider.awareness.setLocalStateField('user', { name, color: '#e5484d' })
}

describe('versions recorded automatically', () => {
  const fixture = useServer({ versionQuietMs: 150, versionIntervalMs: 400 })

  it('when editing goes quiet, with the editor’s chosen name as author', async () => {
    const client = fixture.client('quiet')
    named(client.provider as WebsocketProvider, 'Ada')
    await client.synced()
    type(client.doc, 'first draft')
    await until(async () => (await versionsOf(fixture.running, 'quiet')).length === 1, 5_000, 'a version')
    const [version] = await versionsOf(fixture.running, 'quiet')
    expect(version).toMatchObject({ id: 1, name: null, authors: [{ id: 'anonymous', name: 'Ada' }] })
    expect(Date.now() - Date.parse(version?.at ?? '')).toBeLessThan(60_000)
    expect((await api(fixture.running, 'GET', '/api/docs/quiet/versions/1?format=markdown')).text).toBe(
      'first draft\n',
    )
  })

  it('at the latest every versionIntervalMs while editing goes on', async () => {
    const client = fixture.client('busy')
    await client.synced()
    // Typing every 50 ms never lets it go quiet for 150 ms; 1.2 s of it spans three intervals.
    for (let i = 0; i < 24; i++) {
      type(client.doc, `${i} `)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const during = await versionsOf(fixture.running, 'busy')
    expect(during.length).toBeGreaterThanOrEqual(2)
    // Each one is a state the document passed through: a prefix of what was typed.
    for (const { id } of during) {
      const text = (await api(fixture.running, 'GET', `/api/docs/busy/versions/${id}?format=text`)).text
      expect(markdown(client.doc).startsWith(text.trimEnd())).toBe(true)
    }
  })
})

describe('versions on request, restore and the rest of their life', () => {
  const fixture = useServer({ versionQuietMs: 0 })

  it('records a named version, refuses a second of the same name, and shows each as it was', async () => {
    // A change through the API is an edit like any other: recorded when its room unloads.
    expect((await api(fixture.running, 'PUT', '/api/docs/named', 'one')).status).toBe(201)
    const created = await api(fixture.running, 'POST', '/api/docs/named/versions', { name: 'Draft' })
    expect(created.status).toBe(201)
    expect(created.json()).toMatchObject({ id: 2, name: 'Draft', authors: [] })
    await api(fixture.running, 'PUT', '/api/docs/named', 'one\n\ntwo')
    const again = await api(fixture.running, 'POST', '/api/docs/named/versions', { name: 'Draft' })
    expect(again.status).toBe(409)
    expect(again.json().error).toEqual({
      code: 'TANDEM_ERR_CONFLICT',
      message: 'a version named "Draft" exists',
    })
    expect((await api(fixture.running, 'POST', '/api/docs/named/versions', { name: '' })).status).toBe(400)
    expect((await api(fixture.running, 'POST', '/api/docs/named/versions', 'not json')).status).toBe(400)
    expect((await api(fixture.running, 'POST', '/api/docs/nobody/versions', { name: 'x' })).status).toBe(404)
    const final = (await api(fixture.running, 'POST', '/api/docs/named/versions', { name: 'Final' })).json()
    expect((await versionsOf(fixture.running, 'named')).map((v) => v.name)).toEqual([
      null,
      'Draft',
      null,
      'Final',
    ])
    expect((await api(fixture.running, 'GET', '/api/docs/named/versions/2?format=markdown')).text).toBe(
      'one\n',
    )
    expect(
      (await api(fixture.running, 'GET', `/api/docs/named/versions/${final.id}?format=markdown`)).text,
    ).toBe('one\n\ntwo\n')
    expect((await api(fixture.running, 'GET', '/api/docs/named/versions/5')).status).toBe(404)
    expect((await api(fixture.running, 'GET', '/api/docs/named/versions/x')).status).toBe(404)
  })

  it('restores a version as a new change a connected client receives live; history stays intact', async () => {
    await api(fixture.running, 'PUT', '/api/docs/restore', 'the original')
    const original = (
      await api(fixture.running, 'POST', '/api/docs/restore/versions', { name: 'Original' })
    ).json()
    const client = fixture.client('restore')
    await client.synced()
    type(client.doc, ' ruined by someone')
    await until(
      async () =>
        (await api(fixture.running, 'GET', '/api/docs/restore?format=text')).text ===
        'the original ruined by someone\n',
    )
    const restored = await api(fixture.running, 'POST', `/api/docs/restore/versions/${original.id}/restore`)
    expect(restored.status).toBe(200)
    expect(restored.json()).toMatchObject({ id: original.id + 2, name: `Restored version ${original.id}` })
    await waitForDoc(client.doc, () => markdown(client.doc) === 'the original\n')
    const versions = await versionsOf(fixture.running, 'restore')
    expect(versions.slice(original.id - 1).map((v) => v.name)).toEqual([
      'Original',
      null,
      `Restored version ${original.id}`,
    ])
    // The edit that was undone became a version first, by the anonymous editor; nothing was rewritten.
    const ruined = versions[original.id] as Version
    expect(ruined.authors).toEqual([{ id: 'anonymous' }])
    expect(
      (await api(fixture.running, 'GET', `/api/docs/restore/versions/${ruined.id}?format=text`)).text,
    ).toBe('the original ruined by someone\n')
    expect(
      (await api(fixture.running, 'GET', `/api/docs/restore/versions/${ruined.id + 1}?format=text`)).text,
    ).toBe('the original\n')
    // Editing goes on after a restore.
    type(client.doc, ', then improved')
    await until(
      async () =>
        (await api(fixture.running, 'GET', '/api/docs/restore?format=text')).text ===
        'the original, then improved\n',
    )
  })

  it('records what changed when the last client leaves, and keeps versions across a restart', async () => {
    const client = fixture.client('leaving')
    await client.synced()
    type(client.doc, 'written, then gone')
    await until(
      async () => (await api(fixture.running, 'GET', '/api/docs/leaving?format=text')).status === 200,
    )
    const unloaded: string[] = []
    fixture.running.server.on('roomUnloaded', ({ room }) => unloaded.push(room))
    client.provider.disconnect()
    // The room records what changed since the latest version before it unloads.
    await waitFor(fixture.running.server, 'roomUnloaded', () => unloaded.includes('leaving'))
    expect(await versionsOf(fixture.running, 'leaving')).toHaveLength(1)
    const restarted = await fixture.running.restart()
    try {
      expect(await versionsOf(restarted, 'leaving')).toHaveLength(1)
      // A version after the restart builds on the stored head: its content is exact.
      await api(restarted, 'PUT', '/api/docs/leaving', 'rewritten after the restart')
      await api(restarted, 'POST', '/api/docs/leaving/versions', { name: 'after' })
      expect((await api(restarted, 'GET', '/api/docs/leaving/versions/1?format=text')).text).toBe(
        'written, then gone\n',
      )
      expect((await api(restarted, 'GET', '/api/docs/leaving/versions/2?format=text')).text).toBe(
        'rewritten after the restart\n',
      )
    } finally {
      await restarted.stop()
    }
  })

  it('deleting a document deletes its versions', async () => {
    await api(fixture.running, 'PUT', '/api/docs/gone', 'x')
    await api(fixture.running, 'POST', '/api/docs/gone/versions', { name: 'v' })
    expect((await api(fixture.running, 'DELETE', '/api/docs/gone')).status).toBe(204)
    expect((await api(fixture.running, 'GET', '/api/docs/gone/versions')).status).toBe(404)
    await api(fixture.running, 'PUT', '/api/docs/gone', 'new life')
    expect(await versionsOf(fixture.running, 'gone')).toEqual([])
  })
})

describe('versions with auth on', () => {
  const SECRET = 'versions-test-secret-long-enough!!'
  const fixture = useServer({ authSecret: SECRET, versionQuietMs: 0 })

  it('names the token’s user as author, and needs write access to record or restore', async () => {
    const rw = await signToken(SECRET, {
      sub: 'u-42',
      name: 'Grace',
      docs: ['auth'],
      mode: 'rw',
      ttlSeconds: 600,
    })
    const ro = await signToken(SECRET, { sub: 'u-7', docs: ['auth'], mode: 'ro', ttlSeconds: 600 })
    await api(fixture.running, 'PUT', '/api/docs/auth', 'by grace', rw)
    const recorded = await api(fixture.running, 'POST', '/api/docs/auth/versions', { name: 'one' }, rw)
    expect(recorded.json().authors).toEqual([{ id: 'u-42', name: 'Grace' }])
    expect((await api(fixture.running, 'POST', '/api/docs/auth/versions', { name: 'two' }, ro)).status).toBe(
      403,
    )
    expect(
      (await api(fixture.running, 'POST', '/api/docs/auth/versions/1/restore', undefined, ro)).status,
    ).toBe(403)
    expect((await api(fixture.running, 'GET', '/api/docs/auth/versions', undefined, ro)).status).toBe(200)
    expect((await api(fixture.running, 'GET', '/api/docs/auth/versions')).status).toBe(401)
  })
})
