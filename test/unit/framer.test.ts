import { describe, expect, it } from 'vitest'
import { Framer } from '../../server/connection.js'

/** The messages of `chunks` written one after another: final, unmasked binary frames (RFC 6455). */
function read(...chunks: readonly Uint8Array[]): Buffer[] {
  const bytes = Buffer.concat(chunks)
  const messages: Buffer[] = []
  for (let at = 0; at < bytes.length; ) {
    expect(bytes[at]).toBe(0x82)
    let length = bytes[at + 1] as number
    at += 2
    if (length === 126) {
      length = bytes.readUInt16BE(at)
      at += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at))
      at += 8
    }
    messages.push(bytes.subarray(at, at + length))
    at += length
  }
  return messages
}

describe('Framer', () => {
  const small = new Uint8Array([0, 2, 3, 1, 2, 3])
  const medium = new Uint8Array(300).fill(7)
  const large = new Uint8Array(70_000).fill(9)

  it('joins small frames into one buffer that a client reads as the messages, in order', () => {
    const frames = new Framer().of([small, medium, small])
    expect(frames).toHaveLength(1)
    expect(read(...frames)).toEqual([Buffer.from(small), Buffer.from(medium), Buffer.from(small)])
  })

  it('writes a large payload as it is, behind its header, and keeps nothing of it', () => {
    const framer = new Framer()
    const frames = framer.of([small, large])
    expect(frames).toHaveLength(4)
    expect(frames[3]).toBe(large)
    expect(read(...frames)).toEqual([Buffer.from(small), Buffer.from(large)])
    // Framed again when sent again: the framer held no reference to it.
    expect(framer.of([small, large])).not.toBe(frames)
  })

  it('frames the same payloads once, and other payloads anew', () => {
    const framer = new Framer()
    const first = framer.of([small, medium])
    expect(framer.of([small, medium])).toBe(first)
    expect(framer.ofOne(small)).not.toBe(first)
    expect(read(...framer.ofOne(small))).toEqual([Buffer.from(small)])
    // Equal bytes in another array are another payload: framed again, the same way.
    const copy = framer.of([small.slice(), medium])
    expect(copy).not.toBe(first)
    expect(copy).toEqual(first)
  })
})
