import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeUpdate } from '../../protocol/wire.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { rawSocket } from '../helpers/raw.js'

const fixture = useServer()
const client = fixture.client

describe('sync between stock clients', () => {
  for (const version of ['v3', 'v1'] as const) {
    it(`two ${version} clients converge on concurrent Y.Text edits`, async () => {
      const a = client('doc', { version })
      const b = client('doc', { version })
      await Promise.all([a.synced(), b.synced()])
      a.doc.getText('t').insert(0, 'hello ')
      b.doc.getText('t').insert(0, 'world ')
      const both = () => ['hello', 'world'].every((w) => a.doc.getText('t').toString().includes(w))
      await waitForDoc(a.doc, both)
      await waitForDoc(b.doc, () => b.doc.getText('t').toString() === a.doc.getText('t').toString())
      expect(b.doc.getText('t').toString()).toBe(a.doc.getText('t').toString())
      expect(a.doc.getText('t').toString()).toHaveLength(12)
    })
  }

  it('relays and stores an update that arrived before the one it depends on, once that one comes', async () => {
    const source = new Y.Doc()
    const updates: Uint8Array[] = []
    source.on('update', (update: Uint8Array) => updates.push(update))
    source.getText('t').insert(0, 'first ')
    source.getText('t').insert(6, 'second')
    const reader = client('order')
    await reader.synced()
    const sender = rawSocket(`${fixture.running.url}/order`)
    await sender.opened
    // The second edit first: the server keeps it waiting, and relays nothing yet.
    sender.ws.send(encodeUpdate(updates[1]!))
    sender.ws.send(encodeUpdate(updates[0]!))
    await waitForDoc(reader.doc, () => reader.doc.getText('t').toString() === 'first second')
    sender.ws.close()
    const late = client('order')
    await late.synced()
    expect(late.doc.getText('t').toString()).toBe('first second')
  })

  it('ten clients converge on concurrent Y.XmlFragment edits, and a late joiner gets it all', async () => {
    const peers = Array.from({ length: 10 }, (_, i) => client('xml', { version: i % 2 ? 'v1' : 'v3' }))
    await Promise.all(peers.map((p) => p.synced()))
    peers.forEach((p, i) => {
      const paragraph = new Y.XmlElement('paragraph')
      paragraph.insert(0, [new Y.XmlText(`line ${i}`)])
      p.doc.getXmlFragment('prosemirror').insert(0, [paragraph])
    })
    const done = (doc: Y.Doc) => doc.getXmlFragment('prosemirror').length === 10
    await Promise.all(peers.map((p) => waitForDoc(p.doc, () => done(p.doc))))
    const expected = peers[0]!.doc.getXmlFragment('prosemirror').toString()
    for (const p of peers) expect(p.doc.getXmlFragment('prosemirror').toString()).toBe(expected)
    for (let i = 0; i < 10; i++) expect(expected).toContain(`line ${i}`)

    const late = client('xml')
    await late.synced()
    expect(late.doc.getXmlFragment('prosemirror').toString()).toBe(expected)
  })

  it('keystrokes relayed before they are integrated reach a late joiner, the API and a restart', async () => {
    const a = client('keys')
    const b = client('keys')
    await Promise.all([a.synced(), b.synced()])
    // One keystroke per update, as an editor sends them; the room takes them into its backlog.
    const text = a.doc.getText('t')
    for (let i = 0; i < 30; i++) text.insert(i % 4 === 0 ? 0 : text.length, String(i % 10))
    // And backspaces: deletions alone.
    for (let i = 0; i < 3; i++) text.delete(text.length - 1, 1)
    const typed = text.toString()
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === typed)
    // Relayed to b already: a client joining now hears them only through the room's document.
    const late = client('keys')
    await late.synced()
    expect(late.doc.getText('t').toString()).toBe(typed)
    b.doc.getText('t').insert(0, 'b:')
    await waitForDoc(a.doc, () => a.doc.getText('t').toString() === `b:${typed}`)
    const res = await fetch(`http://127.0.0.1:${fixture.running.port}/api/docs/keys?format=yjs`)
    expect(res.status).toBe(200)
    const served = new Y.Doc()
    Y.applyUpdate(served, new Uint8Array(await res.arrayBuffer()))
    expect(served.getText('t').toString()).toBe(`b:${typed}`)
    a.doc.getText('t').insert(0, 'a:')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === `a:b:${typed}`)
    await fixture.restart()
    const after = client('keys')
    await after.synced()
    expect(after.doc.getText('t').toString()).toBe(`a:b:${typed}`)
  })

  it('relays updates of every WebSocket frame size intact (7-bit, 16-bit and 64-bit lengths)', async () => {
    const a = client('sizes')
    const b = client('sizes')
    await Promise.all([a.synced(), b.synced()])
    // One at a time, so that each goes out as its own frame (not merged with the others).
    for (const size of [10, 1_000, 100_000]) {
      a.doc.getMap('m').set(`k${size}`, 'x'.repeat(size))
      await waitForDoc(
        b.doc,
        () => (b.doc.getMap('m').get(`k${size}`) as string | undefined)?.length === size,
      )
    }
    const late = client('sizes')
    await late.synced()
    expect(late.doc.getMap('m').toJSON()).toEqual(a.doc.getMap('m').toJSON())
  })
})
