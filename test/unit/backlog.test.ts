import * as prng from 'lib0/prng'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Backlog, followsOn } from '../../server/backlog.js'
import { hasPending } from '../../server/pending.js'

const BACKLOG = Symbol('backlog')
const fail = (error: unknown) => {
  throw error
}
const backlogs: Backlog[] = []
afterEach(() => {
  for (const backlog of backlogs.splice(0)) backlog.destroy()
})

/** followsOn against what `doc` holds. */
const verdict = (doc: Y.Doc, update: Uint8Array) =>
  followsOn(Y.decodeUpdate(update), (client) => Y.getState(doc.store, client))

/** Applies `update` to `doc`; says whether the transaction changed anything. */
function applyAndTell(doc: Y.Doc, update: Uint8Array): boolean {
  let changed = false
  const listen = (transaction: Y.Transaction) => {
    changed ||= transaction.deleteSet.clients.size > 0
    for (const [client, clock] of transaction.afterState)
      if (transaction.beforeState.get(client) !== clock) changed = true
  }
  doc.on('afterTransaction', listen)
  Y.applyUpdate(doc, update)
  doc.off('afterTransaction', listen)
  return changed
}

/** A client's updates, each as its own transaction made it. */
function recorder(doc: Y.Doc): Uint8Array[] {
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== 'remote') updates.push(update)
  })
  return updates
}

function client(id: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = id
  return doc
}

/**
 * Three clients edit paragraphs of rich text, a plain text and a map, at random. Each hears the
 * others' updates late and out of order (as tabs of one browser hear each other before the
 * server does), so their updates refer to structs the server may not have yet; the server hears
 * each client's updates in order, interleaved at random, sometimes twice.
 */
function scenario(seed: number, edits: number) {
  const random = prng.create(seed)
  const clients = [1, 2, 3].map(client)
  const sent = clients.map(recorder)
  const first = clients[0] as Y.Doc
  const fragment = first.getXmlFragment('prosemirror')
  const paragraph = new Y.XmlElement('paragraph')
  paragraph.insert(0, [new Y.XmlText('start')])
  fragment.push([paragraph])
  const heard = clients.map(() => 0)
  const hear = (to: number) => {
    // Each client hears everything another has sent so far, now and then.
    for (let from = 0; from < clients.length; from++) {
      if (from === to) continue
      for (const update of (sent[from] as Uint8Array[]).slice(0))
        Y.applyUpdate(clients[to] as Y.Doc, update, 'remote')
    }
    heard[to] = 0
  }
  for (let i = 0; i < edits; i++) {
    const at = prng.uint32(random, 0, clients.length - 1)
    const doc = clients[at] as Y.Doc
    if (prng.real53(random) < 0.3) hear(at)
    const paragraphs = doc.getXmlFragment('prosemirror')
    const roll = prng.real53(random)
    if (roll < 0.55 && paragraphs.length > 0) {
      const element = paragraphs.get(prng.uint32(random, 0, paragraphs.length - 1)) as Y.XmlElement
      const text = element.get(0) as Y.XmlText
      if (text.length > 0 && prng.real53(random) < 0.3) {
        const from = prng.uint32(random, 0, text.length - 1)
        text.delete(from, Math.min(text.length - from, prng.uint32(random, 1, 3)))
      } else {
        const attributes = prng.real53(random) < 0.2 ? { bold: true } : {}
        text.insert(prng.uint32(random, 0, text.length), prng.word(random, 1, 3), attributes)
      }
    } else if (roll < 0.62) {
      const element = new Y.XmlElement('paragraph')
      element.insert(0, [new Y.XmlText()])
      paragraphs.insert(prng.uint32(random, 0, paragraphs.length), [element])
    } else if (roll < 0.65 && paragraphs.length > 1) {
      paragraphs.delete(prng.uint32(random, 0, paragraphs.length - 1), 1)
    } else if (roll < 0.9) {
      const text = doc.getText('plain')
      text.insert(prng.uint32(random, 0, text.length), prng.word(random, 1, 2))
    } else {
      doc.getMap('meta').set(prng.word(random, 1, 1), prng.uint32(random, 0, 9))
    }
  }
  // The server's order: each client's updates in order, the clients interleaved, some repeated.
  const queues = sent.map((updates) => [...updates])
  const arrivals: Uint8Array[] = []
  while (queues.some((queue) => queue.length > 0)) {
    const queue = prng.oneOf(
      random,
      queues.filter((q) => q.length > 0),
    )
    const update = queue.shift() as Uint8Array
    arrivals.push(update)
    if (prng.real53(random) < 0.05) arrivals.push(update)
  }
  return { clients, arrivals }
}

describe('followsOn', () => {
  it('says exactly when Yjs integrates an update whole, holding nothing back', () => {
    let taken = 0
    let refused = 0
    let deletions = 0
    for (let seed = 1; seed <= 12; seed++) {
      const { arrivals } = scenario(seed, 300)
      const server = new Y.Doc()
      for (const update of arrivals) {
        // (Backlog.take asks only while nothing waits: then whatever waits after is the update's.)
        const follows = hasPending(server) ? null : verdict(server, update)
        const changed = applyAndTell(server, update)
        if (follows === null) {
          refused++
          continue
        }
        taken++
        expect(hasPending(server)).toBe(false)
        if (follows === 'deletions') {
          deletions++
          continue
        }
        expect(changed).toBe(true)
        expect(Y.getState(server.store, follows.client)).toBe(follows.end)
      }
    }
    // Both answers come up often (this scenario is built to make updates wait).
    expect(taken).toBeGreaterThan(300)
    expect(refused).toBeGreaterThan(300)
    expect(deletions).toBeGreaterThan(20)
  })

  it('takes every keystroke of a client typing alone', () => {
    const doc = client(7)
    const updates = recorder(doc)
    const text = doc.getText('t')
    text.insert(0, 'hello')
    for (let i = 0; i < 50; i++) text.insert(i % 3 === 0 ? 0 : text.length, 'x')
    // Typing over a selection: an insertion and a deletion in one update.
    doc.transact(() => {
      text.delete(2, 3)
      text.insert(2, 'y')
    })
    const server = new Y.Doc()
    for (const update of updates) {
      const follows = verdict(server, update)
      Y.applyUpdate(server, update)
      expect(follows).toEqual({ client: 7, end: Y.getState(server.store, 7) })
    }
    expect(server.getText('t').toString()).toBe(text.toString())
  })

  it('refuses what waits, repeats, deletes the unknown or nests by parent', () => {
    const a = client(1)
    const fromA = recorder(a)
    a.getText('t').insert(0, 'ab')
    a.getText('t').insert(2, 'cd')
    const server = new Y.Doc()
    // A gap: the second keystroke before the first.
    expect(verdict(server, fromA[1] as Uint8Array)).toBeNull()
    Y.applyUpdate(server, fromA[0] as Uint8Array)
    // A repeat of what the server has.
    expect(verdict(server, fromA[0] as Uint8Array)).toBeNull()
    const heardAll = (id: number) => {
      const doc = client(id)
      for (const update of fromA) Y.applyUpdate(doc, update, 'remote')
      return { doc, sent: recorder(doc) }
    }
    // Typing after A's second keystroke, which the server has not heard: its origin is unknown.
    const b = heardAll(2)
    b.doc.getText('t').insert(4, 'e')
    expect(verdict(server, b.sent[0] as Uint8Array)).toBeNull()
    // Typing at the start (its neighbour is known) over A's unheard keystroke.
    const c = heardAll(3)
    c.doc.transact(() => {
      c.doc.getText('t').delete(2, 2)
      c.doc.getText('t').insert(0, 'E')
    })
    expect(verdict(server, c.sent[0] as Uint8Array)).toBeNull()
    // A deletion alone: taken when the server has what it deletes.
    const d = heardAll(4)
    d.doc.getText('t').delete(0, 1)
    d.doc.getText('t').delete(1, 2)
    expect(Y.decodeUpdate(d.sent[0] as Uint8Array).structs).toHaveLength(0)
    expect(verdict(server, d.sent[0] as Uint8Array)).toBe('deletions')
    expect(verdict(server, d.sent[1] as Uint8Array)).toBeNull()
    // Once the server has heard A, the typing follows on.
    Y.applyUpdate(server, fromA[1] as Uint8Array)
    expect(verdict(server, b.sent[0] as Uint8Array)).toEqual({ client: 2, end: 1 })
    expect(verdict(server, c.sent[0] as Uint8Array)).toEqual({ client: 3, end: 1 })
    expect(verdict(server, d.sent[1] as Uint8Array)).toBe('deletions')
    // The first text in a new paragraph names its parent, which holds a type only Yjs checks.
    const paragraph = new Y.XmlElement('paragraph')
    const inner = new Y.XmlText()
    paragraph.insert(0, [inner])
    a.getXmlFragment('prosemirror').push([paragraph])
    inner.insert(0, 'x')
    Y.applyUpdate(server, fromA[2] as Uint8Array)
    expect(verdict(server, fromA[3] as Uint8Array)).toBeNull()
  })

  it('refuses an empty item or an empty deletion', () => {
    const writer = client(9)
    const updates = recorder(writer)
    writer.getText('t').insert(0, 'a')
    const update = updates[0] as Uint8Array
    const server = new Y.Doc()
    const known = (id: number) => Y.getState(server.store, id)
    expect(followsOn(Y.decodeUpdate(update), known)).toEqual({ client: 9, end: 1 })
    // Hand-made, as a hostile client could send them: an item of no length; a range of none
    // at a client's next clock (Yjs would keep it waiting for that client).
    const empty = Y.decodeUpdate(update)
    Object.assign(empty.structs[0] as Y.Item, { length: 0 })
    expect(followsOn(empty, known)).toBeNull()
    const nothing = Y.decodeUpdate(update)
    nothing.ds.clients.set(12345, [{ clock: 0, len: 0 }] as never)
    expect(followsOn(nothing, known)).toBeNull()
    expect(followsOn({ structs: [], ds: nothing.ds }, known)).toBeNull()
  })
})

describe('Backlog', () => {
  it('makes the document that applying every update in turn makes', () => {
    for (let seed = 20; seed < 26; seed++) {
      const { clients, arrivals } = scenario(seed, 300)
      const reference = new Y.Doc()
      const doc = new Y.Doc()
      const backlog = new Backlog(doc, BACKLOG, fail)
      backlogs.push(backlog)
      let waited = 0
      for (const update of arrivals) {
        Y.applyUpdate(reference, update)
        if (backlog.take(update, Y.decodeUpdate(update))) {
          waited++
          continue
        }
        backlog.integrate()
        Y.applyUpdate(doc, update)
      }
      backlog.integrate()
      expect(waited).toBeGreaterThan(0)
      expect(Y.equalSnapshots(Y.snapshot(doc), Y.snapshot(reference))).toBe(true)
      expect(doc.getXmlFragment('prosemirror').toJSON()).toBe(
        reference.getXmlFragment('prosemirror').toJSON(),
      )
      expect(doc.getText('plain').toString()).toBe(reference.getText('plain').toString())
      expect(doc.getMap('meta').toJSON()).toEqual(reference.getMap('meta').toJSON())
      // Every client, once it hears the rest, holds that document too.
      for (const c of clients) {
        Y.applyUpdate(c, Y.encodeStateAsUpdate(reference, Y.encodeStateVector(c)))
        expect(c.getText('plain').toString()).toBe(doc.getText('plain').toString())
      }
    }
  })

  it('integrates in one transaction, with its origin, and not before it is asked or due', () => {
    const writer = client(3)
    const updates = recorder(writer)
    for (let i = 0; i < 5; i++) writer.getText('t').insert(i, String(i))
    const doc = new Y.Doc()
    const backlog = new Backlog(doc, BACKLOG, fail)
    backlogs.push(backlog)
    const origins: unknown[] = []
    doc.on('afterTransaction', (transaction: Y.Transaction) => origins.push(transaction.origin))
    for (const update of updates) expect(backlog.take(update, Y.decodeUpdate(update))).toBe(true)
    expect(doc.getText('t').toString()).toBe('')
    backlog.integrate()
    expect(origins).toEqual([BACKLOG])
    expect(doc.getText('t').toString()).toBe('01234')
    backlog.integrate()
    expect(origins).toHaveLength(1)
  })

  it('refuses an update while the document holds parts back', () => {
    const writer = client(4)
    const updates = recorder(writer)
    writer.getText('t').insert(0, 'a')
    writer.getText('t').insert(1, 'b')
    const other = client(5)
    Y.applyUpdate(other, updates[0] as Uint8Array)
    Y.applyUpdate(other, updates[1] as Uint8Array)
    const fromOther = recorder(other)
    other.getText('t').insert(2, 'c')
    const doc = new Y.Doc()
    // The second keystroke alone: Yjs holds it back, waiting for the first.
    Y.applyUpdate(doc, updates[1] as Uint8Array)
    expect(hasPending(doc)).toBe(true)
    const backlog = new Backlog(doc, BACKLOG, fail)
    backlogs.push(backlog)
    expect(backlog.take(updates[0] as Uint8Array, Y.decodeUpdate(updates[0] as Uint8Array))).toBe(false)
    Y.applyUpdate(doc, updates[0] as Uint8Array)
    expect(hasPending(doc)).toBe(false)
    const update = fromOther[0] as Uint8Array
    expect(backlog.take(update, Y.decodeUpdate(update))).toBe(true)
  })
})
