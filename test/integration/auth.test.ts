import { EventEmitter } from 'node:events'
import * as decoding from 'lib0/decoding'
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { encodeSyncStep1, encodeUpdate } from '../../protocol/wire.js'
import { AuthError, signToken } from '../../server/index.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { rawSocket } from '../helpers/raw.js'
import { waitFor } from '../helpers/wait.js'

const SECRET = 'integration-secret-that-is-long-enough'
const token = (docs: string[], mode: 'rw' | 'ro' = 'rw', ttlSeconds = 600) =>
  signToken(SECRET, { sub: `user-${mode}`, docs, mode, ttlSeconds })

/** The stock v3 provider's terminal close (it stops reconnecting on 44xx). */
function terminalClose(provider: WebsocketProvider): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => provider.once('closed', (event) => resolve(event)))
}

describe('JWT auth (--auth-secret)', () => {
  const fixture = useServer({ authSecret: SECRET })

  it('lets a valid token in and syncs', async () => {
    const t = await token(['team/*'])
    const a = fixture.client('team/notes', { params: { token: t } })
    const b = fixture.client('team/notes', { params: { token: t } })
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'hello')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'hello')
  })

  it.each([
    ['no token', async () => ({}), 4401, 'a token is required'],
    ['a bad token', async () => ({ token: 'nope' }), 4401, 'token is malformed'],
    [
      'a token signed with another secret',
      async () => ({
        token: await signToken(`${SECRET}!`, { sub: 'x', docs: ['*'], mode: 'rw', ttlSeconds: 60 }),
      }),
      4401,
      'token signature is invalid',
    ],
    ['an expired token', async () => ({ token: await token(['*'], 'rw', -30) }), 4401, 'token expired'],
    [
      'a token for other documents',
      async () => ({ token: await token(['other/*']) }),
      4403,
      'token does not cover this document',
    ],
  ])(
    'closes %s with the stock client’s permanent code, which stops it reconnecting',
    async (_what, params, code, reason) => {
      const c = fixture.client('team/notes', { params: await params() })
      const closed = await terminalClose(c.provider as WebsocketProvider)
      expect(closed).toEqual({ code, reason })
      expect((c.provider as WebsocketProvider).shouldConnect).toBe(false)
    },
  )

  it('accepts Authorization: Bearer from non-browser clients', async () => {
    const socket = rawSocket(`${fixture.running.url}/team/notes`, {
      headers: { authorization: `Bearer ${await token(['team/notes'])}` },
    })
    await socket.opened
    socket.ws.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())))
    await waitFor(
      socket.ws,
      'message',
      () => socket.received.some((m) => m[0] === 0 && m[1] === 1),
      10_000,
      'sync step 2',
    )
    socket.ws.close()
  })

  it('closes a connection with 4401 when its token expires', async () => {
    const c = fixture.client('doc', { params: { token: await token(['doc'], 'rw', 2) } })
    await c.synced()
    const closed = await terminalClose(c.provider as WebsocketProvider)
    expect(closed).toEqual({ code: 4401, reason: 'token expired' })
  })

  it('read-only: receives the document and awareness; its updates are refused, never applied, stored or relayed', async () => {
    const writer = fixture.client('shared', { params: { token: await token(['shared']) } })
    await writer.synced()
    writer.doc.getText('t').insert(0, 'from the writer')
    writer.provider.awareness.setLocalStateField('user', { name: 'Writer' })
    const reader = fixture.client('shared', { params: { token: await token(['shared'], 'ro') } })
    const denials = recordDenials(reader.provider as WebsocketProvider)
    await reader.synced()
    await waitForDoc(reader.doc, () => reader.doc.getText('t').toString() === 'from the writer')
    await waitFor(reader.provider.awareness, 'change', () => reader.provider.awareness.getStates().size === 2)

    reader.doc.getText('t').insert(0, 'sneaky ')
    await denials.received(1)
    expect(denials.reasons).toEqual(['read-only access: document updates are not accepted'])
    // The reader's cursor does reach the writer.
    reader.provider.awareness.setLocalStateField('user', { name: 'Reader' })
    await waitFor(writer.provider.awareness, 'change', () =>
      [...writer.provider.awareness.getStates().values()].some(
        (s) => (s.user as { name?: string } | undefined)?.name === 'Reader',
      ),
    )
    expect(writer.doc.getText('t').toString()).toBe('from the writer')
    writer.destroy()
    reader.destroy()
    // Not stored either: a newcomer loads the writer's text only.
    const stored = new Y.Doc()
    Y.applyUpdate(stored, await snapshotWithToken())
    expect(stored.getText('t').toString()).toBe('from the writer')
  })

  async function snapshotWithToken(): Promise<Uint8Array> {
    const c = fixture.client('shared', { params: { token: await token(['shared'], 'ro') } })
    await c.synced()
    return Y.encodeStateAsUpdate(c.doc)
  }

  it('does not load a document for a connection that is refused', async () => {
    const loaded: string[] = []
    fixture.running.server.on('roomLoaded', ({ room }) => loaded.push(room))
    const socket = rawSocket(`${fixture.running.url}/secret-doc`)
    socket.ws.on('open', () => socket.ws.send(encodeUpdate(new Uint8Array([0, 0]))))
    expect((await socket.closed).code).toBe(4401)
    expect(loaded).toEqual([])
  })
})

describe('the authenticate hook', () => {
  const addresses = new Set<string | undefined>()
  const fixture = useServer({
    // Without a per-address limit the address is read only for the hook.
    maxConnectionsPerIp: 0,
    async authenticate({ room, headers, token: t, remoteAddress }) {
      addresses.add(remoteAddress)
      if (headers.cookie !== 'session=ok' && t !== 'ok') throw AuthError.unauthorized('no session')
      if (room.startsWith('private/')) throw AuthError.forbidden('not yours')
      return { user: { id: 'cookie-user' }, mode: room.startsWith('ro/') ? 'ro' : 'rw' }
    },
  })

  it('decides access from the request', async () => {
    const ok = fixture.client('open', { params: { token: 'ok' } })
    await ok.synced()
    const none = fixture.client('open')
    expect(await terminalClose(none.provider as WebsocketProvider)).toEqual({
      code: 4401,
      reason: 'no session',
    })
    const forbidden = fixture.client('private/x', { params: { token: 'ok' } })
    expect(await terminalClose(forbidden.provider as WebsocketProvider)).toEqual({
      code: 4403,
      reason: 'not yours',
    })
    const cookie = rawSocket(`${fixture.running.url}/open`, { headers: { cookie: 'session=ok' } })
    await cookie.opened
    cookie.ws.close()
    expect([...addresses]).toEqual(['127.0.0.1'])
  })

  it('applies the mode it returns', async () => {
    const reader = fixture.client('ro/doc', { params: { token: 'ok' } })
    const denials = recordDenials(reader.provider as WebsocketProvider)
    await reader.synced()
    reader.doc.getText('t').insert(0, 'no')
    await denials.received(1)
    const other = fixture.client('ro/doc', { params: { token: 'ok' } })
    await other.synced()
    expect(other.doc.getText('t').toString()).toBe('')
  })
})

/**
 * Collects the reasons of the y-protocols "permission denied" messages a provider receives;
 * `received(count)` resolves once `count` of them have come.
 */
function recordDenials(provider: WebsocketProvider) {
  const reasons: string[] = []
  const denied = new EventEmitter()
  provider.messageHandlers[2] = (_encoder, decoder) => {
    decoding.readVarUint(decoder)
    reasons.push(decoding.readVarString(decoder))
    denied.emit('denied')
  }
  const received = (count: number) =>
    waitFor(denied, 'denied', () => reasons.length === count, 10_000, `${count} denial(s)`)
  return { reasons, received }
}
