import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { docToText, readDoc, serializeMarkdown } from '../../content/convert.js'
import { signToken } from '../../server/index.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import type { RunningServer } from '../helpers/server.js'

/** A request to the running server's API; the body is text (or bytes for yjs). */
async function api(
  running: RunningServer,
  method: string,
  path: string,
  options: { body?: string | Uint8Array; type?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers }
  if (options.type) headers['content-type'] = options.type
  const res = await fetch(`http://127.0.0.1:${running.port}${path}`, {
    method,
    headers,
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : Buffer.from(options.body) }
      : {}),
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  const text = new TextDecoder().decode(bytes)
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    text,
    bytes,
    json: () => JSON.parse(text),
  }
}

const markdown = (doc: Y.Doc) => serializeMarkdown(readDoc(doc))

const NOTES = '# Notes\n\nSome **bold** text and a [link](https://example.com).\n\n- [ ] open\n- [x] done\n'

describe('document API', () => {
  const fixture = useServer()

  it('PUT creates a document that a connected editor receives live, and replaces it as one change', async () => {
    const client = fixture.client('team/notes')
    await client.synced()
    const created = await api(fixture.running, 'PUT', '/api/docs/team%2Fnotes', {
      body: NOTES,
      type: 'text/markdown',
    })
    expect(created.status).toBe(201)
    expect(created.json()).toEqual({ name: 'team/notes', created: true })
    await waitForDoc(client.doc, () => markdown(client.doc) === NOTES)

    let updates = 0
    client.doc.on('update', () => updates++)
    const replaced = await api(fixture.running, 'PUT', '/api/docs/team%2Fnotes', {
      body: '<h1>Notes</h1><p>Rewritten.</p>',
      type: 'text/html; charset=utf-8',
    })
    expect(replaced.status).toBe(200)
    expect(replaced.json()).toEqual({ name: 'team/notes', created: false })
    await waitForDoc(client.doc, () => markdown(client.doc) === '# Notes\n\nRewritten.\n')
    expect(updates).toBe(1)
  })

  it('changes only what differs: an edit made meanwhile in another paragraph survives', async () => {
    await api(fixture.running, 'PUT', '/api/docs/merge', { body: 'one\n\ntwo', type: 'text/markdown' })
    const client = fixture.client('merge')
    await client.synced()
    await waitForDoc(client.doc, () => markdown(client.doc) === 'one\n\ntwo\n')
    // Offline, the client edits the second paragraph while the API rewrites the first.
    client.provider.disconnect()
    const second = client.doc.getXmlFragment('prosemirror').get(1) as Y.XmlElement
    ;(second.get(0) as Y.XmlText).insert(3, '!')
    const put = await api(fixture.running, 'PUT', '/api/docs/merge', {
      body: 'ONE\n\ntwo',
      type: 'text/markdown',
    })
    expect(put.status).toBe(200)
    client.provider.connect()
    await waitForDoc(client.doc, () => markdown(client.doc) === 'ONE\n\ntwo!\n')
    await client.synced()
    await expect
      .poll(async () => (await api(fixture.running, 'GET', '/api/docs/merge?format=markdown')).text)
      .toBe('ONE\n\ntwo!\n')
  })

  it('GET answers every format, by ?format= or Accept, from memory and from disk', async () => {
    await api(fixture.running, 'PUT', '/api/docs/formats', { body: NOTES, type: 'text/markdown' })
    const get = (query: string, accept?: string) =>
      api(fixture.running, 'GET', `/api/docs/formats${query}`, accept ? { headers: { accept } } : {})
    const md = await get('?format=markdown')
    expect(md.type).toBe('text/markdown; charset=utf-8')
    expect(md.text).toBe(NOTES)
    expect((await get('', 'text/markdown')).text).toBe(NOTES)
    expect((await get('?format=md')).text).toBe(NOTES)
    const html = await get('', 'text/plain;q=0.5, text/html')
    expect(html.type).toBe('text/html; charset=utf-8')
    expect(html.text).toBe(
      '<h1>Notes</h1><p>Some <strong>bold</strong> text and a <a href="https://example.com" rel="noopener noreferrer nofollow">link</a>.</p>' +
        '<ul data-type="tasks"><li data-checked="false"><p>open</p></li><li data-checked="true"><p>done</p></li></ul>',
    )
    const text = await get('?format=text')
    expect(text.text).toBe('Notes\n\nSome bold text and a link.\n\nopen\n\ndone\n')
    const json = await get('')
    expect(json.type).toBe('application/json')
    expect(json.json().type).toBe('doc')
    expect(json.json().content[0]).toEqual({
      type: 'heading',
      attrs: { level: 1 },
      content: [{ type: 'text', text: 'Notes' }],
    })
    // The whole Yjs state: a new Y.Doc made from it holds the same document.
    const yjs = await get('?format=yjs')
    expect(yjs.type).toBe('application/vnd.yjs.update')
    const copy = new Y.Doc()
    Y.applyUpdate(copy, yjs.bytes)
    expect(markdown(copy)).toBe(NOTES)
    // After a restart the room is not in memory: the same answers come from the store.
    const restarted = await fixture.running.restart()
    let loaded = 0
    restarted.server.on('roomLoaded', () => loaded++)
    try {
      const again = await api(restarted, 'GET', '/api/docs/formats?format=markdown')
      expect(again.text).toBe(NOTES)
      // Read from the store: no room was loaded (and so nothing is compacted) to answer it.
      expect(loaded).toBe(0)
    } finally {
      await restarted.stop()
    }
  })

  it('PUT takes ProseMirror JSON and plain text, and merges a Yjs update', async () => {
    const json = {
      type: 'doc',
      content: [{ type: 'paragraph', content: [{ type: 'text', text: 'from json' }] }],
    }
    const put = await api(fixture.running, 'PUT', '/api/docs/kinds', {
      body: JSON.stringify(json),
      type: 'application/json',
    })
    expect(put.status).toBe(201)
    expect((await api(fixture.running, 'GET', '/api/docs/kinds?format=text')).text).toBe('from json\n')
    await api(fixture.running, 'PUT', '/api/docs/kinds', { body: 'line one\nline two', type: 'text/plain' })
    expect((await api(fixture.running, 'GET', '/api/docs/kinds?format=text')).text).toBe(
      'line one\nline two\n',
    )
    const other = new Y.Doc()
    other.getText('side').insert(0, 'merged')
    const merged = await api(fixture.running, 'PUT', '/api/docs/kinds', {
      body: Y.encodeStateAsUpdate(other),
      type: 'application/vnd.yjs.update',
    })
    expect(merged.status).toBe(200)
    const state = new Y.Doc()
    Y.applyUpdate(state, (await api(fixture.running, 'GET', '/api/docs/kinds?format=yjs')).bytes)
    expect(state.getText('side').toString()).toBe('merged')
    expect(docToText(readDoc(state))).toBe('line one\nline two\n')
  })

  it('strips hostile HTML: no scripts, handlers or javascript: links', async () => {
    const put = await api(fixture.running, 'PUT', '/api/docs/hostile', {
      body:
        '<img src=x onerror=alert(1)><script>alert(2)</script><p onclick="alert(3)" style="color:red">hi ' +
        '<a href="javascript:alert(4)">bad</a> <a href="https://ok.example">good</a></p><iframe src="https://x"></iframe>',
      type: 'text/html',
    })
    expect(put.status).toBe(201)
    const html = await api(fixture.running, 'GET', '/api/docs/hostile?format=html')
    expect(html.text).toBe(
      '<p>hi bad <a href="https://ok.example" rel="noopener noreferrer nofollow">good</a></p>',
    )
  })

  it('lists documents with created, modified and size, by pages, with a search by name', async () => {
    for (const name of ['b', 'a', 'team/c', 'team/d', 'e']) {
      expect(
        (
          await api(fixture.running, 'PUT', `/api/docs/${encodeURIComponent(name)}`, {
            body: name,
            type: 'text/plain',
          })
        ).status,
      ).toBe(201)
    }
    const first = (await api(fixture.running, 'GET', '/api/docs?limit=2')).json()
    expect(first.docs.map((d: { name: string }) => d.name)).toEqual(['a', 'b'])
    expect(first.next).toBe('b')
    const entry = first.docs[0]
    expect(Object.keys(entry).sort()).toEqual(['created', 'modified', 'name', 'size'])
    expect(Date.parse(entry.created)).toBeLessThanOrEqual(Date.parse(entry.modified))
    expect(entry.size).toBeGreaterThan(0)
    const second = (await api(fixture.running, 'GET', '/api/docs?limit=2&after=b')).json()
    expect(second.docs.map((d: { name: string }) => d.name)).toEqual(['e', 'team/c'])
    const last = (await api(fixture.running, 'GET', '/api/docs?limit=2&after=team%2Fc')).json()
    expect(last).toMatchObject({ next: null })
    expect(last.docs.map((d: { name: string }) => d.name)).toEqual(['team/d'])
    const found = (await api(fixture.running, 'GET', '/api/docs?q=TEAM')).json()
    expect(found.docs.map((d: { name: string }) => d.name)).toEqual(['team/c', 'team/d'])
  })

  it('DELETE closes the connections with 4410 and removes every record: a restart does not bring it back', async () => {
    await api(fixture.running, 'PUT', '/api/docs/doomed', { body: 'bye', type: 'text/plain' })
    const client = fixture.client('doomed')
    await client.synced()
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      (client.provider as WebsocketProvider).once('closed', resolve),
    )
    const deleted = await api(fixture.running, 'DELETE', '/api/docs/doomed')
    expect(deleted.status).toBe(204)
    expect(await closed).toMatchObject({ code: 4410, reason: 'document deleted' })
    expect((await api(fixture.running, 'GET', '/api/docs/doomed')).status).toBe(404)
    expect((await api(fixture.running, 'DELETE', '/api/docs/doomed')).status).toBe(404)
    const restarted = await fixture.running.restart()
    try {
      expect((await api(restarted, 'GET', '/api/docs/doomed')).status).toBe(404)
      expect((await api(restarted, 'GET', '/api/docs')).json().docs).toEqual([])
    } finally {
      await restarted.stop()
    }
  })

  it.each([
    ['GET', '/api/docs/nothing-here', {}, 404, 'TANDEM_ERR_NOT_FOUND', 'no document "nothing-here"'],
    ['GET', '/api/elsewhere', {}, 404, 'TANDEM_ERR_NOT_FOUND', 'no API route /api/elsewhere'],
    [
      'GET',
      '/api/docs/team/notes',
      {},
      404,
      'TANDEM_ERR_NOT_FOUND',
      'no API route /api/docs/team/notes (a document name\'s "/" is written %2F)',
    ],
    ['GET', '/api/docs/a%2F..%2Fb', {}, 400, 'TANDEM_ERR_BAD_ROOM_NAME', 'room name contains a ".." segment'],
    [
      'GET',
      '/api/docs/%E0%A4%A',
      {},
      400,
      'TANDEM_ERR_BAD_ROOM_NAME',
      'document name is not valid percent-encoding',
    ],
    [
      'GET',
      '/api/docs/x?format=pdf',
      {},
      400,
      'TANDEM_ERR_BAD_REQUEST',
      'format must be json, html, markdown, text or yjs, got "pdf"',
    ],
    [
      'GET',
      '/api/docs?limit=0',
      {},
      400,
      'TANDEM_ERR_BAD_REQUEST',
      'limit must be a whole number from 1 to 1000, got "0"',
    ],
    [
      'PUT',
      '/api/docs/x',
      { body: '{"type":"doc","content":[{"type":"table"}]}', type: 'application/json' },
      400,
      'TANDEM_ERR_CONTENT_INVALID',
      undefined,
    ],
    [
      'PUT',
      '/api/docs/x',
      { body: 'x', type: 'image/png' },
      415,
      'TANDEM_ERR_UNSUPPORTED_MEDIA_TYPE',
      'Content-Type must be text/markdown, text/html, application/json, text/plain or application/vnd.yjs.update, got "image/png"',
    ],
    [
      'POST',
      '/api/docs/x',
      {},
      405,
      'TANDEM_ERR_METHOD_NOT_ALLOWED',
      'POST is not allowed here (GET, HEAD, PUT, DELETE)',
    ],
    [
      'DELETE',
      '/api/docs',
      {},
      405,
      'TANDEM_ERR_METHOD_NOT_ALLOWED',
      'DELETE is not allowed here (GET, HEAD)',
    ],
  ] as const)('%s %s answers %d', async (method, path, options, status, code, message) => {
    const res = await api(fixture.running, method, path, options)
    expect(res.status).toBe(status)
    expect(res.type).toBe('application/json; charset=utf-8')
    const { error } = res.json()
    expect(error.code).toBe(code)
    if (message) expect(error.message).toBe(message)
    else expect(error.message).toMatch(/table/)
  })

  it('an invalid Yjs update is refused with 400 and changes nothing', async () => {
    await api(fixture.running, 'PUT', '/api/docs/y', { body: 'kept', type: 'text/plain' })
    const res = await api(fixture.running, 'PUT', '/api/docs/y', {
      body: new Uint8Array([1, 2, 3, 250, 250, 250]),
      type: 'application/vnd.yjs.update',
    })
    expect(res.status).toBe(400)
    expect(res.json().error.code).toBe('TANDEM_ERR_CONTENT_INVALID')
    expect((await api(fixture.running, 'GET', '/api/docs/y?format=text')).text).toBe('kept\n')
  })
})

describe('document API limits', () => {
  const fixture = useServer({ maxApiBodyBytes: 1024, maxApiRequestsPerSecond: 2 })

  it('refuses a body over maxApiBodyBytes with 413 and a burst over the rate with 429', async () => {
    const big = await api(fixture.running, 'PUT', '/api/docs/big', {
      body: 'x'.repeat(2000),
      type: 'text/plain',
    })
    expect(big.status).toBe(413)
    expect(big.json().error).toEqual({
      code: 'TANDEM_ERR_BODY_TOO_LARGE',
      message: 'request body is larger than 1024 bytes',
    })
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await api(fixture.running, 'GET', '/api/docs/big')).status)
    expect(statuses).toContain(429)
    const limited = await api(fixture.running, 'GET', '/api/docs')
    expect(limited.status).toBe(429)
    expect(limited.json().error.code).toBe('TANDEM_ERR_RATE_LIMIT')
  })
})

describe('document API with auth on', () => {
  const SECRET = 'api-test-secret-that-is-long-enough'
  const fixture = useServer({ authSecret: SECRET })
  const token = (claims: { docs?: string[]; mode?: 'rw' | 'ro'; admin?: boolean }) =>
    signToken(SECRET, {
      sub: 'ada',
      docs: claims.docs ?? [],
      mode: claims.mode ?? 'rw',
      ttlSeconds: 600,
      ...(claims.admin ? { admin: true } : {}),
    })
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

  it('asks a document token for the access each operation needs, and an admin token for the rest', async () => {
    const put = (headers: Record<string, string>, query = '') =>
      api(fixture.running, 'PUT', `/api/docs/team%2Fnotes${query}`, {
        body: 'x',
        type: 'text/plain',
        headers,
      })
    const none = await put({})
    expect(none.status).toBe(401)
    expect(none.json().error).toEqual({ code: 'TANDEM_ERR_UNAUTHORIZED', message: 'a token is required' })
    expect((await put(bearer('not-a-jwt'))).json().error.message).toBe('token is malformed')
    const ro = await token({ docs: ['team/*'], mode: 'ro' })
    expect((await put(bearer(ro))).json().error).toEqual({
      code: 'TANDEM_ERR_FORBIDDEN',
      message: 'this token may only read the document',
    })
    const other = await token({ docs: ['elsewhere'] })
    expect((await put(bearer(other))).status).toBe(403)
    const rw = await token({ docs: ['team/*'] })
    expect((await put({}, `?token=${rw}`)).status).toBe(201)
    expect(
      (await api(fixture.running, 'GET', '/api/docs/team%2Fnotes?format=text', { headers: bearer(ro) })).text,
    ).toBe('x\n')

    // Listing and deleting are the server's business: an admin token's.
    const listByRw = await api(fixture.running, 'GET', '/api/docs', { headers: bearer(rw) })
    expect(listByRw.status).toBe(403)
    const deleteByRw = await api(fixture.running, 'DELETE', '/api/docs/team%2Fnotes', { headers: bearer(rw) })
    expect(deleteByRw.json().error).toEqual({
      code: 'TANDEM_ERR_FORBIDDEN',
      message: 'this needs an admin token',
    })
    const admin = await token({ admin: true })
    const listed = await api(fixture.running, 'GET', '/api/docs', { headers: bearer(admin) })
    expect(listed.json().docs.map((d: { name: string }) => d.name)).toEqual(['team/notes'])
    expect(
      (await api(fixture.running, 'DELETE', '/api/docs/team%2Fnotes', { headers: bearer(admin) })).status,
    ).toBe(204)
  })
})

describe('document API from pages of other origins (CORS)', () => {
  const fixture = useServer({ allowedOrigins: ['https://app.example'] })

  it('answers an allowed origin’s preflight and requests, and refuses another origin with 403', async () => {
    const base = `http://127.0.0.1:${fixture.running.port}`
    const preflight = await fetch(`${base}/api/docs/x/versions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')
    await api(fixture.running, 'PUT', '/api/docs/x', { body: 'hello', type: 'text/plain' })
    const read = await fetch(`${base}/api/docs/x?format=text`, { headers: { origin: 'https://app.example' } })
    expect(read.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(read.headers.get('vary')).toBe('accept, origin')
    expect(await read.text()).toBe('hello\n')
    const other = await api(fixture.running, 'GET', '/api/docs/x', {
      headers: { origin: 'https://evil.example' },
    })
    expect(other.status).toBe(403)
    expect(other.json().error).toEqual({
      code: 'TANDEM_ERR_ORIGIN',
      message: 'origin https://evil.example is not allowed',
    })
    // Without an Origin (a server, curl): no CORS headers, no origin check.
    const plain = await fetch(`${base}/api/docs/x?format=text`)
    expect(plain.headers.get('access-control-allow-origin')).toBeNull()
  })
})
