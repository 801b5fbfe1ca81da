import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { SaveTracker, type Status } from '../../editor/status.js'
import { useInstrumentedServer } from '../helpers/stores.js'
import { waitFor } from '../helpers/wait.js'

// The editor's status line (editor/status.ts) driven by a stock provider against the real server:
// "Saved" must mean the server has the edit on disk.

const fixture = useInstrumentedServer({ persistRetryMs: 50 })
const cleanups: (() => void)[] = []

// Registered after the fixture's, so it runs before it (vitest runs after-hooks in reverse):
// trackers go before their clients.
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** An editor-like client: a stock provider that opted in to saved acks, and the editor's tracker. */
function editorClient(room: string) {
  const client = fixture.client(room, { params: { saved: '1' } })
  const provider = client.provider as WebsocketProvider
  const tracker = new SaveTracker(client.doc, provider, new Set([provider]), false)
  const seen: Status['kind'][] = []
  const events = new EventEmitter()
  cleanups.push(
    tracker.subscribe((status) => {
      seen.push(status.kind)
      events.emit('status')
    }),
    () => tracker.destroy(),
  )
  const reaches = (kind: Status['kind']) => waitFor(events, 'status', () => tracker.status.kind === kind)
  return { ...client, provider, tracker, seen, reaches }
}

/** The text of `room` as stored on disk right now. */
async function onDisk(room: string): Promise<string> {
  const doc = new Y.Doc()
  for (const update of (await fixture.store.load(room)).updates) Y.applyUpdate(doc, update)
  return doc.getText('t').toString()
}

describe('the editor status line', () => {
  it('goes Connecting → Saved, and Saving → Saved only once the edit is on disk', async () => {
    const a = editorClient('status')
    await a.reaches('saved')
    expect(a.seen[0]).toBe('connecting')

    a.doc.getText('t').insert(0, 'hello')
    expect(a.tracker.status.kind).toBe('saving')
    expect(a.tracker.unsaved).toBe(true)
    await a.reaches('saved')
    expect(await onDisk('status')).toBe('hello')
    expect(a.tracker.unsaved).toBe(false)
  })

  it('stays Saving while the disk fails, and says Saved once the retry wrote it', async () => {
    const { running, store } = fixture
    const a = editorClient('full-disk')
    await a.reaches('saved')
    store.failWrites = true
    const failed = waitFor(running.server, 'persistError', () => true)
    a.doc.getText('t').insert(0, 'precious')
    await failed
    expect(a.tracker.status.kind).toBe('saving')
    expect(await onDisk('full-disk')).toBe('')
    store.failWrites = false
    await a.reaches('saved')
    expect(await onDisk('full-disk')).toBe('precious')
  })

  it('says Reconnecting, then Offline, keeps edits, and is Saved again after the sync', async () => {
    const a = editorClient('outage')
    await a.reaches('saved')
    await fixture.running.stop()
    await a.reaches('offline')
    expect(a.seen).toContain('reconnecting')
    a.doc.getText('t').insert(0, 'written offline')
    expect(a.tracker.unsaved).toBe(true)
    // Same port and data directory, and a new store on it: the first run's closed with its server.
    await fixture.restart()
    await a.reaches('saved')
    expect(a.tracker.unsaved).toBe(false)
    const b = fixture.client('outage')
    await b.synced()
    expect(b.doc.getText('t').toString()).toBe('written offline')
  })
})
