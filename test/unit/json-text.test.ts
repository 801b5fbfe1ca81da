import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { isJsonText } from '../../server/json-text.js'

/** What a stock client does with a state's bytes (y-protocols: lib0's readVarString, JSON.parse). */
function clientReads(bytes: Uint8Array): boolean {
  const e = encoding.createEncoder()
  encoding.writeVarUint8Array(e, bytes)
  try {
    JSON.parse(decoding.readVarString(decoding.createDecoder(encoding.toUint8Array(e))))
    return true
  } catch {
    return false
  }
}

const utf8 = (text: string) => new TextEncoder().encode(text)

/** A random JSON value, with the odd corners of the grammar. */
function value(random: prng.PRNG, depth: number): unknown {
  const roll = prng.uint32(random, 0, depth > 3 ? 4 : 7)
  switch (roll) {
    case 0:
      return prng.oneOf(random, [null, true, false])
    case 1:
      return prng.oneOf(random, [0, -0, 1.5, -12e-7, 1e300, 123456789012, prng.int32(random, -1e6, 1e6)])
    case 2:
    case 3:
      return prng.oneOf(random, [
        '',
        'a"b',
        'back\\slash',
        'tab\t',
        '\u0000\u001f',
        'é€😀',
        '\u2028',
        '\ud800',
      ])
    case 4:
      return prng.utf16String(random, 6)
    case 5:
    case 6:
      return Array.from({ length: prng.uint32(random, 0, 3) }, () => value(random, depth + 1))
    default:
      return Object.fromEntries(
        Array.from({ length: prng.uint32(random, 0, 3) }, (_, i) => [`k${i}`, value(random, depth + 1)]),
      )
  }
}

/** `bytes` with a few random bytes changed, inserted or removed. */
function mutate(random: prng.PRNG, bytes: Uint8Array): Uint8Array {
  const out = [...bytes]
  const interesting = [
    0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x2d, 0x2e, 0x65, 0x75, 0x30, 0x20, 0x0a, 0xc3, 0xa9,
    0xff, 0xef, 0x00,
  ]
  for (let n = prng.uint32(random, 1, 3); n > 0; n--) {
    const at = prng.uint32(random, 0, out.length)
    const byte = prng.bool(random) ? prng.oneOf(random, interesting) : prng.uint32(random, 0, 255)
    const kind = prng.uint32(random, 0, 2)
    if (kind === 0 && at < out.length) out[at] = byte
    else if (kind === 1) out.splice(at, 0, byte)
    else out.splice(at, 1)
  }
  return new Uint8Array(out)
}

describe('isJsonText', () => {
  it('accepts exactly what a stock client parses, on random and mutated JSON', () => {
    const random = prng.create(42)
    let accepted = 0
    let refused = 0
    for (let i = 0; i < 20_000; i++) {
      const text = JSON.stringify(value(random, 0), null, prng.oneOf(random, [undefined, 1, '\t', ' \r\n']))
      const bytes = i % 4 === 0 ? utf8(text) : mutate(random, utf8(text))
      const expected = clientReads(bytes)
      if (isJsonText(bytes) !== expected) expect.fail(`disagrees on ${JSON.stringify([...bytes])}`)
      if (expected) accepted++
      else refused++
    }
    // Both answers, many times over.
    expect(accepted).toBeGreaterThan(5_000)
    expect(refused).toBeGreaterThan(5_000)
  })

  it('refuses what the client cannot decode or parse, and takes the grammar whole', () => {
    const cases: Array<[Uint8Array, boolean]> = [
      [utf8('{"user":{"name":"Ada"},"cursor":{"anchor":3,"head":3}}'), true],
      [utf8(' [1, -0.5e+3, "\\u00e9\\n", true, false, null, {}] '), true],
      [utf8('"\\ud800"'), true],
      // A byte order mark: stock clients keep it, and JSON.parse refuses it.
      [new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{}')]), false],
      // Malformed UTF-8 in a string: stock clients' decoder throws.
      [new Uint8Array([0x22, 0xc3, 0x22]), false],
      [new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), false],
      [utf8(''), false],
      [utf8(' '), false],
      [utf8('{"a":1,}'), false],
      [utf8('[1,]'), false],
      [utf8('01'), false],
      [utf8('1.'), false],
      [utf8('.5'), false],
      [utf8('1e'), false],
      [utf8('+1'), false],
      [utf8('"\\x"'), false],
      [utf8('"\\u12"'), false],
      [utf8('"tab\there"'), false],
      [utf8('nul'), false],
      [utf8('{} {}'), false],
      [utf8('{"a" 1}'), false],
      [utf8('{1:2}'), false],
      [utf8('['.repeat(10_000) + ']'.repeat(10_000)), true],
      [utf8('['.repeat(10_000) + ']'.repeat(9_999)), false],
    ]
    for (const [bytes, expected] of cases) {
      expect(clientReads(bytes)).toBe(expected)
      expect(isJsonText(bytes)).toBe(expected)
    }
  })
})
