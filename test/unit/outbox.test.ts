import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeUpdate } from '../../protocol/wire.js'
import type { Connection } from '../../server/connection.js'
import { Outbox } from '../../server/outbox.js'
import { decodeMessage } from '../../server/protocol.js'

/** A store write the test completes (or fails) when it says. */
function write() {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const turn = () => new Promise((resolve) => setImmediate(resolve))
const alice = { name: 'alice' } as unknown as Connection
const bob = { name: 'bob' } as unknown as Connection

/** An update inserting `text` into a fresh document's text `t`, with its frame. */
function edit(text: string) {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  const update = Y.encodeStateAsUpdate(doc)
  return { update, frame: encodeUpdate(update) }
}

function outbox() {
  const sent: { frame: Uint8Array; to: Connection | null; except: Connection | null }[] = []
  let bursts = 0
  const box = new Outbox({
    deliver: (frame, to, except) => sent.push({ frame, to, except }),
    releasing: (release) => {
      bursts++
      release()
    },
  })
  return { box, sent, bursts: () => bursts }
}

describe('the durable outbox', () => {
  it('sends at once while no write is outstanding', () => {
    const { box, sent } = outbox()
    const { update, frame } = edit('a')
    box.send(frame, update, null, alice)
    expect(sent).toEqual([{ frame, to: null, except: alice }])
  })

  it('holds what is sent until the write it depends on is done, then sends it in order', async () => {
    const { box, sent, bursts } = outbox()
    const first = write()
    expect(box.follow(first.promise)).toBe(true)
    // The same write again (appends of one turn share it) is the same batch.
    expect(box.follow(first.promise)).toBe(false)
    const reply = new Uint8Array([0, 1, 0])
    const { update, frame } = edit('a')
    box.send(frame, update, null, alice)
    box.send(reply, null, bob, null)
    await turn()
    expect(sent).toEqual([])
    first.resolve()
    await turn()
    expect(sent).toEqual([
      { frame, to: null, except: alice },
      { frame: reply, to: bob, except: null },
    ])
    expect(bursts()).toBe(1)
  })

  it('releases each batch when its own write is done, not before', async () => {
    const { box, sent } = outbox()
    const first = write()
    const second = write()
    const a = edit('a')
    const b = edit('b')
    box.follow(first.promise)
    box.send(a.frame, a.update, null, alice)
    box.follow(second.promise)
    box.send(b.frame, b.update, null, bob)
    first.resolve()
    await turn()
    expect(sent.map((s) => s.frame)).toEqual([a.frame])
    second.resolve()
    await turn()
    expect(sent.map((s) => s.frame)).toEqual([a.frame, b.frame])
  })

  it('releases what a failed write held: the room retries the write, collaboration goes on', async () => {
    const { box, sent } = outbox()
    const failing = write()
    const a = edit('a')
    box.follow(failing.promise)
    box.send(a.frame, a.update, null, alice)
    failing.reject(new Error('disk full'))
    await turn()
    expect(sent.map((s) => s.frame)).toEqual([a.frame])
  })

  it('merges consecutive updates into one frame, to their authors too unless all are one author’s', async () => {
    const { box, sent } = outbox()
    const pending = write()
    box.follow(pending.promise)
    const edits = ['one', 'two', 'three'].map(edit)
    box.send(edits[0]!.frame, edits[0]!.update, null, alice)
    box.send(edits[1]!.frame, edits[1]!.update, null, bob)
    box.send(edits[2]!.frame, edits[2]!.update, null, alice)
    pending.resolve()
    await turn()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.except).toBeNull()
    const message = decodeMessage(sent[0]!.frame)
    expect(message.kind).toBe('sync-update')
    const doc = new Y.Doc()
    Y.applyUpdate(doc, (message as { update: Uint8Array }).update)
    const merged = new Y.Doc()
    for (const e of edits) Y.applyUpdate(merged, e.update)
    expect(doc.getText('t').toString()).toBe(merged.getText('t').toString())
  })
})
