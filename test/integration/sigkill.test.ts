import { afterEach, describe, expect, it } from 'vitest'
import { openLevelStore } from '../../persistence/level.js'
import { type Client, connectClient, waitForDoc } from '../helpers/clients.js'
import { type ServerProcess, startProcess, stopProcess } from '../helpers/process.js'
import { useTempDirs } from '../helpers/server.js'

const TRIALS = 20
const EDITS_PER_TRIAL = 12

const processes: ServerProcess[] = []
const clients: Client[] = []
const start = async (args: string[]) => {
  const server = await startProcess(args)
  processes.push(server)
  return server
}
const client = (server: ServerProcess) => {
  const c = connectClient(server.url, 'crash')
  clients.push(c)
  return c
}
const tokens = (c: Client) => c.doc.getArray<string>('edits').toArray()

const tempDir = useTempDirs()

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const p of processes.splice(0)) await stopProcess(p, 'SIGKILL')
})

describe('durability under SIGKILL', () => {
  for (const flags of [[], ['--fsync']]) {
    it(`loses no update another client has received, over ${TRIALS} kills${flags.join(' ')}`, async () => {
      const dataDir = await tempDir()
      const seen: string[] = []
      for (let trial = 0; trial < TRIALS; trial++) {
        const server = await start(['--data-dir', dataDir, ...flags])
        const writer = client(server)
        const reader = client(server)
        await Promise.all([writer.synced(), reader.synced()])
        // Everything acknowledged in earlier trials is still there after each restart.
        expect(tokens(reader)).toEqual(expect.arrayContaining(seen))
        // A burst: some edits in one tick, some across ticks; kill the moment the reader has the
        // last one (the kill goes out before the writer can resend anything on reconnect).
        const mine = Array.from({ length: EDITS_PER_TRIAL }, (_, i) => `t${trial}-e${i}`)
        const half = EDITS_PER_TRIAL / 2
        for (const token of mine.slice(0, half)) writer.doc.getArray<string>('edits').push([token])
        for (const token of mine.slice(half)) {
          await new Promise((r) => setImmediate(r))
          writer.doc.getArray<string>('edits').push([token])
        }
        const target = mine[mine.length - 1]!
        await waitForDoc(reader.doc, () => tokens(reader).includes(target))
        server.child.kill('SIGKILL')
        writer.provider.disconnect()
        reader.provider.disconnect()
        seen.push(...tokens(reader).filter((t) => !seen.includes(t)))
        await server.exited
      }
      // The metadata record may lag the last second of writes; its record count never does.
      const store = await openLevelStore({ dir: dataDir })
      const { updates, meta } = await store.load('crash')
      await store.close()
      expect(meta?.records).toBe(updates.length)
      const last = await start(['--data-dir', dataDir])
      const check = client(last)
      await check.synced()
      const lost = seen.filter((t) => !tokens(check).includes(t))
      expect(lost).toEqual([])
      expect(seen).toHaveLength(TRIALS * EDITS_PER_TRIAL)
    }, 120_000)
  }
})
