import { describe, expect, it } from 'vitest'
import { decodeRecords, encodeRecords } from '../../persistence/backup.js'
import type { StoredRecord } from '../../persistence/store.js'

async function* from<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

const records: StoredRecord[] = [
  { key: new Uint8Array([1, 2, 3]), value: new Uint8Array([9]) },
  { key: new Uint8Array([4]), value: new Uint8Array(0) },
  { key: new Uint8Array(300).fill(7), value: new Uint8Array(70_000).fill(8) },
]

describe('backup record framing', () => {
  it('reads back what it framed, however the stream is cut', async () => {
    const bytes = Buffer.concat(await collect(encodeRecords(from(records))))
    for (const size of [1, 2, 7, 8, 9, 4096, bytes.byteLength]) {
      const chunks: Uint8Array[] = []
      for (let at = 0; at < bytes.byteLength; at += size) chunks.push(bytes.subarray(at, at + size))
      const decoded = await collect(decodeRecords(from(chunks)))
      expect(decoded.map((r) => [Buffer.from(r.key), Buffer.from(r.value)])).toEqual(
        records.map((r) => [Buffer.from(r.key), Buffer.from(r.value)]),
      )
    }
  })

  it('refuses a stream cut in the middle of a record', async () => {
    const bytes = Buffer.concat(await collect(encodeRecords(from(records))))
    await expect(collect(decodeRecords(from([bytes.subarray(0, bytes.byteLength - 1)])))).rejects.toThrow(
      'the backup stream ended in the middle of a record',
    )
  })
})
