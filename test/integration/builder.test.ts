/**
 * The compiled document builder (dist/server/builder.js with its worker thread): a large
 * document is cut into slices in the worker and applied one event-loop turn at a time.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { DocBuilder } from '../../server/builder.js'
import { assertBuilt, distPath } from '../helpers/built.js'

let builder: DocBuilder
/** A new builder on the compiled worker. */
let compiled: () => DocBuilder

beforeAll(async () => {
  assertBuilt()
  const built = (await import(
    pathToFileURL(distPath('server/builder.js')).href
  )) as typeof import('../../server/builder.js')
  compiled = () => new built.DocBuilder({ worker: pathToFileURL(distPath('server/slices-worker.js')) })
  builder = compiled()
})

// Niceness is the 19th field of a thread's stat; the fields after the command name (which may
// hold spaces) start at the 3rd.
const niceness = (stat: string) => Number(readFileSync(stat, 'utf8').split(') ')[1]?.split(' ')[16])
const threads = () => readdirSync('/proc/self/task').map((tid) => niceness(`/proc/self/task/${tid}/stat`))

afterAll(() => builder.close())

/** A long document edited at random positions by two clients, with deletions. */
function fragmented(): Uint8Array[] {
  const a = new Y.Doc()
  const b = new Y.Doc()
  let seed = 3
  const random = () => {
    seed = (seed * 16807) % 2147483647
    return seed / 2147483647
  }
  for (let i = 0; i < 6000; i++) {
    const doc = random() < 0.5 ? a : b
    const text = doc.getText('t')
    if (text.length > 10 && random() < 0.25) text.delete(Math.floor(random() * (text.length - 5)), 3)
    else text.insert(Math.floor(random() * (text.length + 1)), `w${i} `, random() < 0.1 ? { bold: true } : {})
    if (i % 50 === 0) {
      Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
      Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
    }
  }
  return [Y.encodeStateAsUpdate(a), Y.encodeStateAsUpdate(b)]
}

describe('the document builder’s worker', () => {
  it('builds a large document Yjs’s way, letting other work run between its slices', async () => {
    const updates = fragmented()
    const reference = new Y.Doc()
    for (const update of updates) Y.applyUpdate(reference, update)
    expect(updates[0]?.byteLength).toBeGreaterThan(64 * 1024)
    // Each slice is one transaction; timers that fire between the first and the last one ran
    // while the document was being built on this thread.
    const doc = new Y.Doc()
    let slices = 0
    let ticks = 0
    let ticksBetween = 0
    doc.on('afterTransaction', () => {
      if (slices++ === 0) ticks = 0
      ticksBetween = ticks
    })
    const timer = setInterval(() => ticks++, 0)
    await builder.build(updates, doc).finally(() => clearInterval(timer))
    expect(Buffer.from(Y.encodeStateAsUpdate(doc))).toEqual(Buffer.from(Y.encodeStateAsUpdate(reference)))
    expect(slices).toBeGreaterThan(2)
    expect(ticksBetween).toBeGreaterThan(0)
  })

  it('runs at the lowest priority, so that live rooms and clients come first', async () => {
    const own = niceness('/proc/thread-self/stat')
    await builder.build(fragmented())
    expect(threads()).toContain(19)
    // The event loop's thread keeps its own.
    expect(niceness('/proc/thread-self/stat')).toBe(own)
  })

  it('starts its worker when asked to be ready, and is ready once the worker has loaded its code', async () => {
    const lowest = () => threads().filter((nice) => nice === 19).length
    const fresh = compiled()
    const before = lowest()
    // The worker lowers its own priority first thing: a thread more at 19 is a worker that ran.
    await fresh.ready()
    expect(lowest()).toBe(before + 1)
    const [update] = fragmented() as [Uint8Array]
    expect(Buffer.from(await fresh.diff(update, new Uint8Array([0])))).toEqual(
      Buffer.from(Y.diffUpdate(update, new Uint8Array([0]))),
    )
    await fresh.close()
  })

  it('fails a build of bytes that are no update, and builds the next one', async () => {
    const garbage = new Uint8Array(70 * 1024).fill(0xff)
    await expect(builder.build([garbage])).rejects.toThrow()
    const [update] = fragmented() as [Uint8Array]
    const doc = await builder.build([update])
    const reference = new Y.Doc()
    Y.applyUpdate(reference, update)
    expect(doc.getText('t').toString()).toBe(reference.getText('t').toString())
  })

  it('reads a stored state in the worker: its state vector and delete set, as Yjs has them', async () => {
    const [update] = fragmented() as [Uint8Array]
    const facts = await builder.inspect(update)
    expect(Y.decodeStateVector(facts.vector)).toEqual(
      Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update)),
    )
    const reference = new Y.Doc()
    Y.applyUpdate(reference, update)
    // The snapshot a reading room derives from them is the document's own.
    const derived = Y.createSnapshot(Y.decodeUpdate(facts.deletions).ds, Y.decodeStateVector(facts.vector))
    expect(Y.equalSnapshots(derived, Y.snapshot(reference))).toBe(true)
    expect(Buffer.from(facts.deletions)).toEqual(Buffer.from(Y.encodeStateAsUpdate(reference, facts.vector)))
    await expect(builder.inspect(new Uint8Array(70 * 1024).fill(0xff))).rejects.toThrow()
  })

  it('merges updates in the worker, byte for byte as Yjs does', async () => {
    const updates = fragmented()
    expect(Buffer.from(await builder.merge(updates))).toEqual(Buffer.from(Y.mergeUpdates(updates)))
    await expect(builder.merge([updates[0] as Uint8Array, new Uint8Array(64).fill(0xff)])).rejects.toThrow()
  })

  it('diffs a stored state against a client’s state vector in the worker, byte for byte as Yjs does', async () => {
    const [update] = fragmented() as [Uint8Array]
    const reference = new Y.Doc()
    Y.applyUpdate(reference, update)
    // A client that holds everything (a tab reconnecting), one that holds part, and an offline one.
    const partly = Y.encodeStateVector(
      new Map(
        [...Y.decodeStateVector(Y.encodeStateVector(reference))].map(([client, clock]) => [
          client,
          Math.floor(clock / 2),
        ]),
      ),
    )
    const offline = new Map([[424242, 7]])
    for (const vector of [Y.encodeStateVector(reference), partly, Y.encodeStateVector(offline)]) {
      expect(Buffer.from(await builder.diff(update, vector))).toEqual(
        Buffer.from(Y.diffUpdate(update, vector)),
      )
    }
    await expect(builder.diff(new Uint8Array(70 * 1024).fill(0xff), partly)).rejects.toThrow()
  })
})
