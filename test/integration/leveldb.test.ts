import { readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LevelDown } from 'leveldown'
import { describe, expect, it } from 'vitest'
import { Journal, type Op, segmentsIn } from '../../persistence/journal.js'
import { journalKey, rangeMarkers, updateKey, updateRange } from '../../persistence/keys.js'
import {
  closeDatabase,
  edgeKey,
  type OpenDatabase,
  openDatabase,
  readValue,
  readValues,
  reclaim,
  snapshot,
  writeBatch,
} from '../../persistence/leveldb.js'
import type { StoredRecord } from '../../persistence/store.js'
import { useTempDirs } from '../helpers/server.js'

/**
 * The LevelDB plumbing under the store, on a real database in a temp dir: open and lock, journal
 * recovery, batches with the journal's mark, reads, and reclaiming space.
 */
const tempDir = useTempDirs()

const put = (key: string, value: string): Op => ({ key: Buffer.from(key), value: Buffer.from(value) })
const del = (key: string): Op => ({ key: Buffer.from(key), value: null })

function write(db: LevelDown, ops: readonly Op[], segment: number): Promise<void> {
  return new Promise((resolve, reject) =>
    writeBatch(db, ops, segment, false, (err) => (err ? reject(err) : resolve())),
  )
}

async function all(db: LevelDown): Promise<string[]> {
  const out: string[] = []
  for await (const { key, value } of snapshot(db)) out.push(`${Buffer.from(key)}=${Buffer.from(value)}`)
  return out
}

/** Writes each group of `segments` to its own journal segment (1, 2, …) in `dir`, as a store would before dying. */
async function journaled(dir: string, segments: readonly (readonly Op[])[]): Promise<void> {
  const journal = new Journal(dir, 0, [])
  for (const ops of segments) {
    journal.write(ops)
    journal.rotate()
  }
  await journal.close()
}

describe('leveldb: open', () => {
  it('creates the directory, and refuses a second open as locked until the first is closed', async () => {
    const dir = join(await tempDir(), 'new', 'data')
    await withDatabase(dir, () =>
      expect(openDatabase(dir)).rejects.toMatchObject({
        code: 'TANDEM_ERR_STORE_LOCKED',
        message: `data directory ${dir} is in use by another Tandem process (LevelDB lock held)`,
      }),
    )
    await withDatabase(dir, async () => undefined)
  })

  it('refuses a directory it cannot create', async () => {
    const file = join(await tempDir(), 'file')
    await writeFile(file, '')
    const dir = join(file, 'data')
    await expect(openDatabase(dir)).rejects.toMatchObject({
      code: 'TANDEM_ERR_STORE_OPEN',
      message: expect.stringMatching(/^cannot create data directory .*\/file\/data: Error: ENOTDIR/),
    })
  })
})

describe('leveldb: journal recovery', () => {
  it('writes the segments beyond the mark into LevelDB in order, deletes every segment, and numbers new ones after them', async () => {
    const dir = await tempDir()
    await withDatabase(dir, async () => undefined)
    await journaled(dir, [
      [put('a', '1'), put('b', '1')],
      [put('a', '2'), del('b'), put('c', '2')],
    ])
    expect(segmentsIn(dir)).toEqual([1, 2])
    await withDatabase(dir, async ({ db, journal }) => {
      expect(await all(db)).toEqual(['a=2', 'c=2'])
      expect(segmentsIn(dir)).toEqual([])
      expect(journal.lastSegment).toBe(2)
      journal.write([put('d', '3')])
      expect(segmentsIn(dir)).toEqual([3])
    })
  })

  it('skips the segments the mark says LevelDB has, and deletes them too', async () => {
    const dir = await tempDir()
    // LevelDB took segment 1 (and `a` changed again since) before the process died.
    await withDatabase(dir, ({ db }) => write(db, [put('a', 'new')], 1))
    await journaled(dir, [[put('a', 'old')], [put('b', 'journaled')]])
    await withDatabase(dir, async ({ db }) => {
      expect(await all(db)).toEqual(['a=new', 'b=journaled'])
      expect(segmentsIn(dir)).toEqual([])
    })
  })

  it('fails to open on a journal mark it cannot read, and closes the database again', async () => {
    const dir = await tempDir()
    await withDatabase(
      dir,
      ({ db }) =>
        new Promise<void>((resolve, reject) =>
          db.batch([{ type: 'put', key: journalKey(), value: Buffer.from('seven') }], {}, (err) =>
            err ? reject(err) : resolve(),
          ),
        ),
    )
    const failure = {
      code: 'TANDEM_ERR_STORE_OPEN',
      message: `cannot recover the journal in ${dir}: unreadable journal mark "seven"`,
    }
    await expect(openDatabase(dir)).rejects.toMatchObject(failure)
    // Not locked: the failed open closed what it opened.
    await expect(openDatabase(dir)).rejects.toMatchObject(failure)
  })
})

describe('leveldb: writes and reads', () => {
  it('writes a batch with its journal mark, which a snapshot leaves out', async () => {
    const dir = await tempDir()
    await withDatabase(dir, async ({ db }) => {
      await write(db, [put('x', '1'), put('y', '1'), del('x')], 7)
      expect(await readValue(db, journalKey(), 'mark')).toEqual(Buffer.from('7'))
      expect(await all(db)).toEqual(['y=1'])
    })
  })

  it('reads a snapshot as of its first read, whatever is written meanwhile', async () => {
    const dir = await tempDir()
    await withDatabase(dir, async ({ db }) => {
      await write(db, [put('a', '1'), put('b', '1')], 1)
      const records = snapshot(db)
      const first = await records.next()
      await write(db, [put('b', '2'), put('c', '2')], 2)
      const rest: StoredRecord[] = []
      for await (const record of records) rest.push(record)
      expect(first.value).toEqual({ key: Buffer.from('a'), value: Buffer.from('1') })
      expect(rest).toEqual([{ key: Buffer.from('b'), value: Buffer.from('1') }])
    })
  })

  it('reads one value, a range of values and the edge keys of a range', async () => {
    const dir = await tempDir()
    await withDatabase(dir, async ({ db }) => {
      await write(
        db,
        [2, 3, 5].map((seq) => ({ key: updateKey('doc', seq), value: Buffer.from(`u${seq}`) })),
        1,
      )
      expect(await readValue(db, updateKey('doc', 3), 'doc')).toEqual(Buffer.from('u3'))
      expect(await readValue(db, updateKey('doc', 4), 'doc')).toBeUndefined()
      expect((await readValues(db, updateRange('doc'))).map(String)).toEqual(['u2', 'u3', 'u5'])
      expect(await edgeKey(db, updateRange('doc'), 'first')).toEqual(updateKey('doc', 2))
      expect(await edgeKey(db, updateRange('doc'), 'last')).toEqual(updateKey('doc', 5))
      expect(await readValues(db, updateRange('do'))).toEqual([])
      expect(await edgeKey(db, updateRange('do'), 'last')).toBeUndefined()
    })
  })

  it('reclaims the space of deleted records and keeps every live one, leaving no marker behind', async () => {
    const dir = await tempDir()
    await withDatabase(dir, async ({ db }) => {
      const value = Buffer.alloc(1000, 'v')
      const seqs = Array.from({ length: 200 }, (_, seq) => seq)
      await write(
        db,
        seqs.map((seq) => ({ key: updateKey('doc', seq), value })),
        1,
      )
      await write(
        db,
        seqs.slice(0, 199).map((seq) => ({ key: updateKey('doc', seq), value: null })),
        2,
      )
      await reclaim(db, ['doc', 'never-written'])
      // 200 KB written, 1 KB of it live: what is left is that record and LevelDB's own files.
      let onDisk = 0
      for (const file of await readdir(dir)) onDisk += (await stat(join(dir, file))).size
      expect(onDisk).toBeLessThan(20_000)
      expect(await readValues(db, updateRange('doc'))).toEqual([value])
      const keys: Buffer[] = []
      for await (const { key } of snapshot(db)) keys.push(Buffer.from(key))
      expect(keys).toEqual([updateKey('doc', 199)])
      for (const marker of rangeMarkers('doc')) expect(await readValue(db, marker, 'doc')).toBeUndefined()
    })
  })
})

/** Runs `use` on the database in `dir` and its journal, then closes both. */
async function withDatabase(dir: string, use: (opened: OpenDatabase) => Promise<unknown>): Promise<void> {
  const opened = await openDatabase(dir)
  try {
    await use(opened)
  } finally {
    await opened.journal.close()
    await closeDatabase(opened.db)
  }
}
