import * as decoding from 'lib0/decoding'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { type Client, waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { waitFor } from '../helpers/wait.js'

const KEEPALIVE_MS = 2000
const fixture = useServer({ pingIntervalMs: 100, keepaliveMs: KEEPALIVE_MS })
const client = fixture.client
const text = (c: Client) => c.doc.getText('t').toString()
const socket = (c: Client) => c.provider.ws as unknown as WebSocket
const cursorOf = (of: Client, on: Client) => on.provider.awareness.getStates().get(of.doc.clientID)?.cursor

/** Two clients of `room`, synced. */
async function pair(room: string): Promise<[Client, Client]> {
  const clients: [Client, Client] = [client(room), client(room)]
  await Promise.all(clients.map((c) => c.synced()))
  return clients
}

/** The awareness client IDs an awareness frame carries, or null for another kind of frame. */
function awarenessClients(frame: ArrayBuffer): number[] | null {
  const decoder = decoding.createDecoder(new Uint8Array(frame))
  if (decoding.readVarUint(decoder) !== 1) return null
  const update = decoding.createDecoder(decoding.readVarUint8Array(decoder))
  const ids: number[] = []
  for (let n = decoding.readVarUint(update); n > 0; n--) {
    ids.push(decoding.readVarUint(update))
    decoding.readVarUint(update)
    decoding.readVarString(update)
  }
  return ids
}

describe('rooms', () => {
  it('isolates names that differ by case or a trailing slash, and decodes percent-encoding', async () => {
    const names = ['Doc', 'doc', 'doc/', 'd%C3%BCc']
    const writers = names.map((name) => client(name))
    await Promise.all(writers.map((w) => w.synced()))
    writers.forEach((w, i) => {
      w.doc.getText('t').insert(0, `content of ${names[i]}`)
    })
    // The same room reached through another spelling of its name: "düc" is "d%C3%BCc" decoded.
    const readers = ['Doc', 'doc', 'doc/', 'düc'].map((name) => client(name))
    await Promise.all(readers.map((r) => r.synced()))
    await Promise.all(readers.map((r, i) => waitForDoc(r.doc, () => text(r) === `content of ${names[i]}`)))
    expect(readers.map(text)).toEqual(names.map((n) => `content of ${n}`))
  })

  it('does not take the query string into the room name', async () => {
    const a = client('q', { params: { token: 'x', other: '1' } })
    const b = client('q')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'same room')
    await waitForDoc(b.doc, () => text(b) === 'same room')
  })

  it('refuses an upgrade without a room name or with broken percent-encoding with HTTP 400', async () => {
    for (const path of ['/', '/%E0%A4%A']) {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${fixture.running.url}${path}`)
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('open', () => reject(new Error('opened')))
        ws.on('error', () => undefined)
      })
      expect(status).toBe(400)
    }
  })
})

describe('awareness', () => {
  const presence = (c: Client) =>
    [...c.provider.awareness.getStates().values()].map((s) => s.user).filter(Boolean)

  it('relays awareness and removes it when the client disconnects', async () => {
    const [a, b] = await pair('aw')
    a.provider.awareness.setLocalStateField('user', 'alice')
    await waitFor(b.provider.awareness, 'change', () => presence(b).includes('alice'))
    a.provider.disconnect()
    await waitFor(b.provider.awareness, 'change', () => !presence(b).includes('alice'))
    expect(b.provider.awareness.getStates().has(a.doc.clientID)).toBe(false)
  })

  for (const how of ['destroyed without a close frame', 'silent (no pong)'] as const) {
    it(`removes the awareness of a client whose socket is ${how}`, async () => {
      const [a, b] = await pair('gone')
      a.provider.awareness.setLocalStateField('user', 'alice')
      await waitFor(b.provider.awareness, 'change', () => presence(b).includes('alice'))
      a.provider.shouldConnect = false
      const socket = (a.provider.ws as unknown as { _socket: import('node:net').Socket })._socket
      if (how === 'silent (no pong)') socket.pause()
      else socket.destroy()
      await waitFor(b.provider.awareness, 'change', () => !presence(b).includes('alice'))
      expect(presence(b)).toEqual([])
    })
  }

  it('coalesces a burst of cursor moves into few frames that end in the latest state', async () => {
    const [a, b] = await pair('burst')
    let frames = 0
    socket(b).on('message', (data: ArrayBuffer) => {
      if (awarenessClients(data)?.includes(a.doc.clientID)) frames++
    })
    for (let i = 1; i <= 50; i++) a.provider.awareness.setLocalStateField('cursor', i)
    await waitFor(b.provider.awareness, 'change', () => cursorOf(a, b) === 50)
    expect(frames).toBeGreaterThanOrEqual(1)
    expect(frames).toBeLessThanOrEqual(2)
  })

  it('sends a busy client no echo of its own cursor, and a quiet one its echo as a keepalive', async () => {
    const [a, b] = await pair('echo')
    let echoes = 0
    // The stock provider receives ArrayBuffers.
    socket(a).on('message', (data: ArrayBuffer) => {
      const ids = awarenessClients(data)
      if (ids?.length === 1 && ids[0] === a.doc.clientID) echoes++
    })
    a.provider.awareness.setLocalStateField('cursor', 1)
    await waitFor(b.provider.awareness, 'change', () => cursorOf(a, b) === 1)
    b.provider.awareness.setLocalStateField('cursor', 2)
    await waitFor(a.provider.awareness, 'change', () => cursorOf(b, a) === 2)
    // A heard from B just now: its own change was no news to it.
    expect(echoes).toBe(0)
    // After a silence as long as the keepalive, its own change comes back to it. This sleep is
    // not a wait for anything: the silence is the scenario under test (a heard nothing since B's
    // cursor, just above). The 200 ms margin covers timers, which count from the event loop's
    // cached clock and may end a little before the server's performance.now() says the time is up.
    await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS + 200))
    a.provider.awareness.setLocalStateField('cursor', 3)
    await waitFor(
      { on: (_e, f) => socket(a).on('message', f), off: (_e, f) => socket(a).off('message', f) },
      'message',
      () => echoes === 1,
    )
    await waitFor(b.provider.awareness, 'change', () => cursorOf(a, b) === 3)
  })

  it('echoes a client its own awareness update, so a lone client keeps hearing from the server', async () => {
    const a = client('alone')
    await a.synced()
    const ws = a.provider.ws as unknown as WebSocket
    let received = 0
    ws.addEventListener('message', () => {
      received++
    })
    a.provider.awareness.setLocalStateField('user', 'alone')
    await waitFor(
      { on: (_e, f) => ws.on('message', f), off: (_e, f) => ws.off('message', f) },
      'message',
      () => received > 0,
    )
  })
})
