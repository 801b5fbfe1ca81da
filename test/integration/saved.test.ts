import { EventEmitter } from 'node:events'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { openLevelStore } from '../../persistence/level.js'
import { MessageType } from '../../server/index.js'
import { useInstrumentedServer } from '../helpers/stores.js'
import { waitFor } from '../helpers/wait.js'

const fixture = useInstrumentedServer({ persistRetryMs: 50 })

/** A stock provider that opted in to "saved" acks; records every ack it receives. */
function savingClient(room: string) {
  const c = fixture.client(room, { params: { saved: '1' } })
  const acks: number[] = []
  const events = new EventEmitter()
  c.provider.messageHandlers[MessageType.Saved] = (_encoder: encoding.Encoder, decoder: decoding.Decoder) => {
    acks.push(decoding.readVarUint(decoder))
    events.emit('ack')
  }
  const mark = (seq: number) => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MessageType.Saved)
    encoding.writeVarUint(e, seq)
    ;(c.provider.ws as unknown as WebSocket).send(encoding.toUint8Array(e))
  }
  const acked = (seq: number) => waitFor(events, 'ack', () => acks.includes(seq))
  return { ...c, acks, mark, acked }
}

describe('saved acknowledgement (opt-in)', () => {
  it('acknowledges a marker once the updates sent before it are on disk', async () => {
    const { store } = fixture
    const a = savingClient('s')
    await a.synced()
    let durable = 0
    const append = store.append.bind(store)
    store.append = (name, update) => append(name, update).then(() => void durable++)
    a.doc.getText('t').insert(0, 'one')
    a.doc.getText('t').insert(3, ' two')
    a.mark(1)
    await a.acked(1)
    expect(durable).toBe(2)
    expect(a.acks).toEqual([1])
  })

  it('does not acknowledge while the store fails, and does once the write is redone', async () => {
    const { running, store } = fixture
    const a = savingClient('s2')
    await a.synced()
    store.failWrites = true
    a.doc.getText('t').insert(0, 'lost?')
    a.mark(1)
    await waitFor(running.server, 'persistError', () => true)
    expect(a.acks).toEqual([])
    store.failWrites = false
    a.doc.getText('t').insert(0, 'more ')
    a.mark(2)
    await a.acked(2)
    expect(a.acks).toEqual([1, 2])
    await running.stop()
    const check = await openLevelStore({ dir: running.dataDir })
    const { updates } = await check.load('s2')
    await check.close()
    expect(updates.length).toBeGreaterThan(0)
  })

  it('closes a client that sends a marker without opting in, with 1002', async () => {
    const c = fixture.client('plain')
    await c.synced()
    const ws = c.provider.ws as unknown as WebSocket
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    )
    ws.send(new Uint8Array([MessageType.Saved, 1]))
    expect(await closed).toEqual({ code: 1002, reason: 'saved markers need the saved=1 query parameter' })
  })
})
