import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  encodeAwareness,
  encodePermissionDenied,
  encodeSaved,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  MessageType,
} from '../../protocol/wire.js'
import { ConnectionError } from '../../server/errors.js'
import { awarenessEntries, decodeMessage, encodeAwarenessEntries, entryText } from '../../server/protocol.js'

function bytes(...values: number[]): Uint8Array {
  const e = encoding.createEncoder()
  for (const v of values) encoding.writeVarUint(e, v)
  return encoding.toUint8Array(e)
}

function decodeError(frame: Uint8Array): ConnectionError {
  try {
    decodeMessage(frame)
  } catch (error) {
    if (error instanceof ConnectionError) return error
    throw error
  }
  throw new Error('decoded without error')
}

describe('protocol codec', () => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'hi')
  const update = Y.encodeStateAsUpdate(doc)
  const sv = Y.encodeStateVector(doc)

  it('round-trips every message type', () => {
    expect(decodeMessage(encodeSyncStep1(sv))).toEqual({ kind: 'sync-step1', stateVector: sv })
    expect(decodeMessage(encodeSyncStep2(update))).toEqual({ kind: 'sync-step2', update })
    const frame = encodeUpdate(update)
    expect(decodeMessage(frame)).toEqual({ kind: 'sync-update', update, frame })
    expect(decodeMessage(encodeAwareness(update))).toEqual({ kind: 'awareness', update })
    expect(decodeMessage(bytes(MessageType.QueryAwareness))).toEqual({ kind: 'query-awareness' })
    expect(decodeMessage(encodeSaved(300))).toEqual({ kind: 'saved', seq: 300 })
  })

  it('encodes exactly the y-protocols framing', () => {
    expect([...encodeSyncStep1(new Uint8Array([7]))]).toEqual([0, 0, 1, 7])
    expect([...encodeSyncStep2(new Uint8Array([7, 8]))]).toEqual([0, 1, 2, 7, 8])
    expect([...encodeUpdate(new Uint8Array([9]))]).toEqual([0, 2, 1, 9])
    expect([...encodeAwareness(new Uint8Array([1]))]).toEqual([1, 1, 1])
    expect([...encodePermissionDenied('no')]).toEqual([2, 0, 2, 110, 111])
    expect([...encodeSaved(5)]).toEqual([100, 5])
  })

  it('rejects unknown message and sync types with 1002', () => {
    expect(decodeError(bytes(42))).toMatchObject({ code: 'TANDEM_ERR_UNKNOWN_MESSAGE', closeCode: 1002 })
    expect(decodeError(bytes(0, 9, 0))).toMatchObject({
      code: 'TANDEM_ERR_UNKNOWN_MESSAGE',
      message: 'unknown sync message type 9',
    })
  })

  it('rejects truncated and over-long frames with 1002', () => {
    expect(decodeError(new Uint8Array([]))).toMatchObject({
      code: 'TANDEM_ERR_MALFORMED_MESSAGE',
      closeCode: 1002,
    })
    expect(decodeError(new Uint8Array([0, 2, 5, 1]))).toMatchObject({
      message: 'malformed message: truncated message',
    })
    expect(decodeError(new Uint8Array([0x80]))).toMatchObject({ code: 'TANDEM_ERR_MALFORMED_MESSAGE' })
    const trailing = new Uint8Array([...encodeUpdate(new Uint8Array([1])), 0])
    expect(decodeError(trailing)).toMatchObject({
      message: 'malformed message: trailing bytes after message',
    })
  })

  it('frames awareness entries as lib0 frames the update they came in, across var uint sizes', () => {
    // count × state size: a count and a body length of one, two and three var uint bytes.
    for (const [count, size] of [
      [1, 10],
      [1, 120],
      [1, 200],
      [127, 1],
      [128, 1],
      [300, 60],
      [2, 20_000],
    ] as const) {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, count)
      for (let i = 0; i < count; i++) {
        encoding.writeVarUint(e, 2 ** 31 + i)
        encoding.writeVarUint(e, i * 1000)
        encoding.writeVarString(e, JSON.stringify({ name: 'é'.repeat(size) }))
      }
      const update = encoding.toUint8Array(e)
      const entries = awarenessEntries(update).map((entry) => entryText(entry.bytes))
      expect([...encodeAwarenessEntries(entries)]).toEqual([...encodeAwareness(update)])
    }
  })
})
