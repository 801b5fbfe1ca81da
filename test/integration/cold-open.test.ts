/**
 * Opening a large document cold (after a restart): its clients' sync step 1 is answered from the
 * stored bytes, and the document is built only once a client changes it (server/reading-room.ts).
 * What each client ends with must be what the warm path gives: Yjs's own result.
 */
import { get } from 'node:http'
import { describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { openLevelStore } from '../../persistence/level.js'
import type { DocStore } from '../../persistence/store.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { until, waitFor } from '../helpers/wait.js'

/** Loads wait for this: the test lets them go once its clients' first messages are in. */
let loadGate: Promise<void> = Promise.resolve()
/** The running server's store. */
let stored: DocStore
const fixture = useServer(async (dataDir) => {
  const inner = await openLevelStore({ dir: dataDir })
  stored = inner
  const store = new Proxy(inner, {
    get(target, key: keyof DocStore) {
      if (key === 'load') return (name: string) => loadGate.then(() => target.load(name))
      const value = target[key]
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store }
})

/** A counter of the running server's /metrics (on a new connection: the server restarts between tests). */
async function metric(name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    get(`http://127.0.0.1:${fixture.running.port}/metrics`, { agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1])
}

/**
 * Holds loads until `clients` stock clients have sent their greetings (sync step 1, awareness)
 * and `more` messages besides.
 */
function holdLoads(clients: number, more = 0): () => Promise<void> {
  let release = () => {}
  loadGate = new Promise((resolve) => {
    release = resolve
  })
  return async () => {
    const received = () => metric('tandem_messages_received_total')
    await until(async () => (await received()) >= 2 * clients + more, 10_000, 'the clients’ first messages')
    release()
  }
}

/** A fragmented document: edits at random positions, a quarter of them deletions. */
function fragmented(doc: Y.Doc, edits: number, seed: number): void {
  let state = seed
  const random = () => {
    state = (state * 16807) % 2147483647
    return state / 2147483647
  }
  const text = doc.getText('t')
  for (let i = 0; i < edits; i++) {
    const length = text.length
    if (length > 40 && random() < 0.25)
      text.delete(Math.floor(random() * (length - 20)), 1 + Math.floor(random() * 20))
    else text.insert(Math.floor(random() * (length + 1)), `edit ${i} at ${Math.floor(random() * 1e9)} `)
  }
}

/** The document as Yjs encodes it, and what a client that synced with it holds. */
const state = (doc: Y.Doc) => Buffer.from(Y.encodeStateAsUpdate(doc))

/**
 * Stores a fragmented document (well over the early-answer size) and restarts the server. Returns
 * it, and its state halfway through its history (what a client that went away then holds).
 */
async function storedDocument(room: string) {
  const writer = fixture.client(room)
  await writer.synced()
  fragmented(writer.doc, 2000, 7)
  const half = Y.encodeStateAsUpdate(writer.doc)
  fragmented(writer.doc, 2000, 11)
  const reference = new Y.Doc()
  Y.applyUpdate(reference, Y.encodeStateAsUpdate(writer.doc))
  expect(Y.encodeStateAsUpdate(reference).byteLength).toBeGreaterThan(128 * 1024)
  // Everything stored: a client that joins now receives it all (only stored content is relayed).
  const check = fixture.client(room)
  const text = reference.getText('t').toString()
  await waitForDoc(check.doc, () => check.doc.getText('t').toString() === text)
  writer.provider.disconnect()
  check.provider.disconnect()
  await fixture.restart()
  return { reference, half }
}

/** Watches the running server's unloads: the function resolves once `room` was unloaded. */
function watchUnloads(): (room: string) => Promise<void> {
  const unloaded: string[] = []
  const { server } = fixture.running
  server.on('roomUnloaded', ({ room }) => unloaded.push(room))
  return (room) => waitFor(server, 'roomUnloaded', () => unloaded.includes(room))
}

function docOf(...updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  return doc
}

describe('a large document opened cold', () => {
  it('gives a fresh client the whole stored document in its first sync reply, as Yjs would', async () => {
    const { reference } = await storedDocument('cold-fresh')
    const letGo = holdLoads(1)
    const fresh = fixture.client('cold-fresh')
    let atSynced = ''
    fresh.provider.once('sync', () => {
      atSynced = fresh.doc.getText('t').toString()
    })
    await letGo()
    await fresh.synced()
    expect(await metric('tandem_sync_answered_from_store_total')).toBe(1)
    // Answered with the stored state included, not from a room not built yet.
    expect(atSynced).toBe(reference.getText('t').toString())
    expect(state(fresh.doc)).toEqual(state(reference))
  })

  it('gives a partly synced client and an offline editor exactly what they lack', async () => {
    const { reference, half } = await storedDocument('cold-partial')
    const partlySynced = docOf(half)
    const offline = docOf(half)
    offline.getText('t').insert(0, 'offline edit ')
    const letGo = holdLoads(2)
    const a = fixture.client('cold-partial', { doc: partlySynced })
    const b = fixture.client('cold-partial', { doc: offline })
    await letGo()
    await Promise.all([a.synced(), b.synced()])
    const expected = docOf(Y.encodeStateAsUpdate(reference), Y.encodeStateAsUpdate(offline))
    const text = expected.getText('t').toString()
    for (const doc of [a.doc, b.doc]) await waitForDoc(doc, () => doc.getText('t').toString() === text)
    expect(state(a.doc)).toEqual(state(expected))
    expect(state(b.doc)).toEqual(state(expected))
    expect(await metric('tandem_sync_answered_from_store_total')).toBe(2)
  })

  it('answers a fresh client and an editor together, and both end with everything', async () => {
    const { reference, half } = await storedDocument('cold-both')
    const offline = docOf(half)
    offline.getText('t').insert(0, 'while it loads ')
    const letGo = holdLoads(2)
    const fresh = fixture.client('cold-both')
    const editor = fixture.client('cold-both', { doc: offline })
    await letGo()
    const expected = docOf(Y.encodeStateAsUpdate(reference), Y.encodeStateAsUpdate(offline))
    const text = expected.getText('t').toString()
    for (const doc of [fresh.doc, editor.doc])
      await waitForDoc(doc, () => doc.getText('t').toString() === text)
    expect(state(fresh.doc)).toEqual(state(expected))
  })

  it('gives a fresh client of a large document in memory the stored state and what changed since, before it is synced', async () => {
    const { reference } = await storedDocument('warm-fresh')
    const editor = fixture.client('warm-fresh')
    const watcher = fixture.client('warm-fresh')
    await Promise.all([editor.synced(), watcher.synced()])
    editor.doc.getText('t').insert(0, 'changed after the load ')
    editor.doc.getText('t').delete(40, 30)
    const expected = state(editor.doc)
    expect(expected).not.toEqual(state(reference))
    // Stored once relayed: the fresh client can only get it from the room's answer.
    const text = editor.doc.getText('t').toString()
    await waitForDoc(watcher.doc, () => watcher.doc.getText('t').toString() === text)
    const fresh = fixture.client('warm-fresh')
    // Synced means complete: what the client holds when the provider says so (its later messages
    // may be handled in the same turn, so read it in the event itself).
    const atSync = new Promise<Uint8Array>((resolve) =>
      fresh.provider.once('sync', () => resolve(state(fresh.doc))),
    )
    expect(await atSync).toEqual(expected)
  })

  it('serves readers without building the document, with their presence, and builds it at the first change', async () => {
    const { reference } = await storedDocument('readers')
    const a = fixture.client('readers')
    const b = fixture.client('readers')
    await Promise.all([a.synced(), b.synced()])
    expect(state(a.doc)).toEqual(state(reference))
    expect(await metric('tandem_rooms_reading')).toBe(1)
    expect(await metric('tandem_rooms_loaded')).toBe(0)
    // A client that holds the document already (a tab reconnecting after a restart) is answered
    // with the stored delete set, and answers the server's sync step 1 with its own: it changes
    // nothing, and builds nothing.
    const before = await metric('tandem_messages_received_total')
    const returning = fixture.client('readers', { doc: docOf(Y.encodeStateAsUpdate(reference)) })
    await returning.synced()
    expect(await metric('tandem_sync_answered_from_store_total')).toBe(3)
    const received = () => metric('tandem_messages_received_total')
    // Its sync step 1, awareness, and its answer to the server's.
    await until(async () => (await received()) >= before + 3, 10_000, 'the returning client’s answer')
    expect(state(returning.doc)).toEqual(state(reference))
    expect(await metric('tandem_rooms_reading')).toBe(1)
    expect(await metric('tandem_rooms_loaded')).toBe(0)
    // Presence works while the document is not built.
    a.provider.awareness.setLocalStateField('user', { name: 'Ada' })
    const seesAda = (client: typeof b) => () =>
      [...client.provider.awareness.getStates().values()].some((s) => s.user?.name === 'Ada')
    await waitFor(b.provider.awareness, 'change', seesAda(b))
    // A change builds it; the change reaches the other reader and a newcomer, Ada's cursor stays.
    a.doc.getText('t').insert(0, 'the first change ')
    const text = a.doc.getText('t').toString()
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === text)
    expect(await metric('tandem_rooms_reading')).toBe(0)
    expect(await metric('tandem_rooms_loaded')).toBe(1)
    expect(seesAda(b)()).toBe(true)
    const c = fixture.client('readers')
    await waitForDoc(c.doc, () => c.doc.getText('t').toString() === text)
    await waitFor(c.provider.awareness, 'change', seesAda(c))
    expect(state(c.doc)).toEqual(state(a.doc))
  })

  it('drops a document its last reader left, and serves the next reader from the store again', async () => {
    await storedDocument('left')
    const unloadOf = watchUnloads()
    const reader = fixture.client('left')
    await reader.synced()
    expect(await metric('tandem_rooms_reading')).toBe(1)
    reader.provider.disconnect()
    await unloadOf('left')
    expect(await metric('tandem_rooms_reading')).toBe(0)
    const next = fixture.client('left')
    await next.synced()
    expect(state(next.doc)).toEqual(state(reader.doc))
    expect(await metric('tandem_sync_answered_from_store_total')).toBe(2)
  })

  it('compacts a large document it unloads into one record, merged off the event loop, and serves it unbuilt again', async () => {
    await storedDocument('merged')
    const unloadOf = watchUnloads()
    const editor = fixture.client('merged')
    await editor.synced()
    editor.doc.getText('t').insert(0, 'one change ')
    editor.doc.getText('t').delete(30, 12)
    editor.doc.getText('t').insert(100, 'and another ')
    const expected = state(editor.doc)
    await until(async () => (await stored.info('merged'))?.records === 4, 10_000, 'the three changes stored')
    editor.provider.disconnect()
    await unloadOf('merged')
    expect((await stored.info('merged'))?.records).toBe(1)
    const reader = fixture.client('merged')
    await reader.synced()
    expect(state(reader.doc)).toEqual(expected)
    expect(await metric('tandem_rooms_reading')).toBe(1)
  })

  it('applies a change sent while the document loads, in order, after answering the sync', async () => {
    const { reference } = await storedDocument('early-change')
    const letGo = holdLoads(1, 2)
    const editor = fixture.client('early-change')
    await waitFor(editor.provider, 'status', () => editor.provider.wsconnected)
    // Queued behind the client's sync step 1 and awareness: the change wakes the room mid-queue,
    // the cursor that follows must wait behind it (the client would send neither again).
    editor.doc.getText('t').insert(0, 'typed while it loads ')
    editor.provider.awareness.setLocalStateField('user', { name: 'Grace' })
    await letGo()
    const expected = docOf(Y.encodeStateAsUpdate(reference), Y.encodeStateAsUpdate(editor.doc))
    const text = expected.getText('t').toString()
    await waitForDoc(editor.doc, () => editor.doc.getText('t').toString() === text)
    const fresh = fixture.client('early-change')
    await waitForDoc(fresh.doc, () => fresh.doc.getText('t').toString() === text)
    expect(state(fresh.doc)).toEqual(state(expected))
    const seesGrace = () =>
      [...fresh.provider.awareness.getStates().values()].some((s) => s.user?.name === 'Grace')
    await waitFor(fresh.provider.awareness, 'change', seesGrace, 5_000)
    expect(await metric('tandem_rooms_loaded')).toBe(1)
  })

  it('answers a returning client whose change wakes the document before its sync reply is computed', async () => {
    const { reference, half } = await storedDocument('early-return')
    const letGo = holdLoads(1, 1)
    // A client that holds part of the document: its sync step 1 is answered by a difference,
    // computed off the event loop. Its change, queued behind it, wakes the document first: the
    // room built for it must answer that step 1 (the client would not send it again).
    const returning = fixture.client('early-return', { doc: docOf(half) })
    await waitFor(returning.provider, 'status', () => returning.provider.wsconnected)
    returning.doc.getText('t').insert(0, 'back online ')
    await letGo()
    await returning.synced()
    const expected = docOf(Y.encodeStateAsUpdate(reference), Y.encodeStateAsUpdate(returning.doc))
    const text = expected.getText('t').toString()
    await waitForDoc(returning.doc, () => returning.doc.getText('t').toString() === text)
    expect(state(returning.doc)).toEqual(state(expected))
    expect(await metric('tandem_rooms_loaded')).toBe(1)
  })

  it('builds a document its readers hold for an API write, and closes them for an API delete', async () => {
    await storedDocument('api-written')
    const request = (method: string, body?: string) =>
      fetch(`http://127.0.0.1:${fixture.running.port}/api/docs/api-written`, {
        method,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'text/plain' } }),
      })
    const reader = fixture.client('api-written')
    await reader.synced()
    expect(await metric('tandem_rooms_reading')).toBe(1)
    expect((await request('PUT', 'written through the API')).status).toBe(200)
    const fragment = reader.doc.getXmlFragment('prosemirror')
    await waitForDoc(reader.doc, () => fragment.toString().includes('written through the API'))
    expect(await metric('tandem_rooms_loaded')).toBe(1)

    await storedDocument('api-deleted')
    const doomed = fixture.client('api-deleted')
    await doomed.synced()
    expect(await metric('tandem_rooms_reading')).toBe(1)
    const closed = new Promise<{ code: number }>((resolve) =>
      (doomed.provider as WebsocketProvider).once('closed', resolve),
    )
    const deleted = await fetch(`http://127.0.0.1:${fixture.running.port}/api/docs/api-deleted`, {
      method: 'DELETE',
    })
    expect(deleted.status).toBe(204)
    expect((await closed).code).toBe(4410)
    expect(await metric('tandem_rooms_reading')).toBe(0)
  })
})
