import { describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  encodeAwareness,
  encodeSaved,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
} from '../../protocol/wire.js'
import { connectClient, waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { expectUnharmed, type RawSocket, rawSocket, seedRoom } from '../helpers/raw.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261124)
const MESSAGES = 5000
const TIME_LIMIT_MS = 20_000

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Valid frames of every kind, from a real editing session, to mutate. */
function corpus(): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  const text = doc.getText('t')
  text.insert(0, 'hello world')
  text.delete(2, 3)
  doc.getMap('m').set('k', { nested: [1, 2, 3] })
  doc.getXmlFragment('prosemirror').insert(0, [new Y.XmlElement('paragraph')])
  const awareness = new awarenessProtocol.Awareness(doc)
  awareness.setLocalState({ user: { name: 'Fuzz', color: '#123456' }, cursor: { anchor: 1, head: 2 } })
  return [
    ...updates.map(encodeUpdate),
    encodeSyncStep1(Y.encodeStateVector(doc)),
    encodeSyncStep2(Y.encodeStateAsUpdate(doc)),
    encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])),
    new Uint8Array([3]),
    encodeSaved(7),
  ]
}

function mutate(random: () => number, frames: readonly Uint8Array[]): Uint8Array {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T
  const base = pick(frames)
  const bytes = Array.from(base)
  switch (Math.floor(random() * 6)) {
    case 0: // random bytes
      return Uint8Array.from({ length: Math.floor(random() * 48) }, () => Math.floor(random() * 256))
    case 1: // flip some bytes
      for (let i = 0, n = 1 + Math.floor(random() * 3); i < n; i++) {
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      }
      return Uint8Array.from(bytes)
    case 2: // truncate
      return Uint8Array.from(bytes.slice(0, Math.floor(random() * bytes.length)))
    case 3: // insert a byte
      bytes.splice(Math.floor(random() * (bytes.length + 1)), 0, Math.floor(random() * 256))
      return Uint8Array.from(bytes)
    case 4: // two messages glued together
      return Uint8Array.from([...bytes, ...pick(frames)])
    default: // valid as it is
      return base
  }
}

describe('fuzzing the wire protocol', () => {
  const fixture = useServer({ maxMessagesPerSecond: 0, maxBytesPerSecond: 0 })

  it(`survives ${MESSAGES} random and mutated messages (seed ${SEED})`, async () => {
    const { running } = fixture
    const before = await seedRoom(running, 'safe', 'untouched by the fuzzer')
    const random = prng(SEED)
    const frames = corpus()
    const started = Date.now()
    const closeCodes = new Map<number, number>()
    let socket: RawSocket | null = null
    let sent = 0
    for (; sent < MESSAGES && Date.now() - started < TIME_LIMIT_MS; sent++) {
      if (!socket || socket.ws.readyState !== socket.ws.OPEN) {
        socket = rawSocket(`${running.url}/fuzz`)
        await socket.opened
      }
      const current = socket
      const answered = current.received.length
      current.ws.send(mutate(random, frames))
      // A probe (query awareness) after each message: its answer, or the close, tells us the
      // server dealt with the message before the next one goes.
      current.ws.send(new Uint8Array([3]))
      const outcome = await Promise.race([
        current.closed.then(({ code }) => code),
        new Promise<null>((resolve) => {
          const check = () => {
            if (current.received.slice(answered).some((m) => m[0] === 1)) {
              current.ws.off('message', check)
              resolve(null)
            }
          }
          current.ws.on('message', check)
          check()
        }),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no answer to message ${sent} (seed ${SEED})`)), 5_000).unref(),
        ),
      ])
      if (outcome !== null) closeCodes.set(outcome, (closeCodes.get(outcome) ?? 0) + 1)
    }
    const finalSocket = socket as RawSocket | null
    finalSocket?.ws.close()
    expect(sent).toBeGreaterThan(200)
    // Only precise, deliberate close codes; never an internal error.
    expect([...closeCodes.keys()].every((code) => [1002, 1003, 1007, 1008, 1009].includes(code))).toBe(true)
    expect(closeCodes.has(1011)).toBe(false)

    await expectUnharmed(running, 'safe', before)
    // The fuzzed room itself still works: two newcomers load it and edit together.
    const a = connectClient(running.url, 'fuzz')
    const b = connectClient(running.url, 'fuzz')
    try {
      await Promise.all([a.synced(), b.synced()])
      a.doc.getText('after').insert(0, 'ok')
      await waitForDoc(b.doc, () => b.doc.getText('after').toString() === 'ok')
      expect(Y.encodeStateVector(b.doc)).toEqual(Y.encodeStateVector(a.doc))
    } finally {
      a.destroy()
      b.destroy()
    }
  })
})
