/**
 * Builds a room's Y.Doc from its stored updates without holding up the other rooms (and reads a
 * stored state for a reading room, stored-state.ts, and merges a large document's updates for its
 * compaction).
 *
 * A small document is applied at once. A large one (a long, fragmented document takes 100–200 ms
 * to apply in one go) is built first in a worker thread, which cuts it into slices (slices.ts);
 * the event loop then applies one slice per turn, so the other rooms' messages are served between
 * slices. Run from the TypeScript sources (the tests), there is no compiled worker: the slicing
 * runs inline and only the turns are kept.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import * as Y from 'yjs'
import { sliceDocument } from './slices.js'
import { inspectState, type StateFacts } from './stored-state.js'

/** Documents stored in at least this many bytes are built in slices. */
export const SLICED_BYTES = 64 * 1024
/** Structs per slice: applying one takes a few milliseconds. */
const SLICE_STRUCTS = 500

/**
 * What builder.ts asks its worker (slices-worker.ts): slices of a document, facts of a state, the
 * difference between a state and a client's state vector, or the merge of updates.
 */
export type WorkerRequest =
  | { readonly id: number; readonly updates: readonly Uint8Array[]; readonly maxStructs: number }
  | { readonly id: number; readonly inspect: Uint8Array }
  | { readonly id: number; readonly diff: Uint8Array; readonly vector: Uint8Array }
  | { readonly id: number; readonly merge: readonly Uint8Array[] }

export type WorkerReply =
  | { readonly id: number; readonly slices: Uint8Array[] | null }
  /** Sent once, when the worker has loaded its code (id: -1). */
  | { readonly id: number; readonly ready: true }
  | { readonly id: number; readonly facts: StateFacts }
  | { readonly id: number; readonly update: Uint8Array }
  | { readonly id: number; readonly error: string }

const COMPILED_WORKER = new URL('./slices-worker.js', import.meta.url)

export interface BuilderOptions {
  /** The worker's script; by default the compiled one next to this file, when there is one. */
  readonly worker?: URL | null
}

export class DocBuilder {
  private readonly script: URL | null
  private worker: Worker | null = null
  /** Settles once the current worker runs, or failed to start. */
  private booted: Promise<void> = Promise.resolve()
  private readonly waiting = new Map<number, (reply: WorkerReply) => void>()
  private nextId = 0

  constructor(options: BuilderOptions = {}) {
    this.script =
      options.worker !== undefined
        ? options.worker
        : existsSync(fileURLToPath(COMPILED_WORKER))
          ? COMPILED_WORKER
          : null
  }

  /**
   * Applies `updates` to `doc` (a new one by default) and returns it. Rejects with Yjs's error
   * for bytes that are no update, like applying them would throw.
   */
  async build(updates: readonly Uint8Array[], doc = new Y.Doc()): Promise<Y.Doc> {
    let bytes = 0
    for (const update of updates) bytes += update.byteLength
    const slices = bytes >= SLICED_BYTES ? await this.slice(updates) : null
    if (!slices) {
      doc.transact(() => {
        for (const update of updates) Y.applyUpdate(doc, update)
      })
      return doc
    }
    for (let i = 0; i < slices.length; i++) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve))
      Y.applyUpdate(doc, slices[i] as Uint8Array)
    }
    return doc
  }

  /** What a reading room needs to know of a stored `state`, read in the worker. */
  async inspect(state: Uint8Array): Promise<StateFacts> {
    if (!this.script) return inspectState(state)
    const reply = await this.ask((id) => ({ id, inspect: state }))
    if ('facts' in reply) return reply.facts
    throw failure(reply)
  }

  /**
   * What a client holding `vector` lacks of a stored `state`: `Y.diffUpdate`, computed in the
   * worker (tens of milliseconds for a large document, for every client that reconnects).
   * Rejects with Yjs's error for a vector or state that does not parse.
   */
  async diff(state: Uint8Array, vector: Uint8Array): Promise<Uint8Array> {
    if (!this.script) return Y.diffUpdate(state, vector)
    const reply = await this.ask((id) => ({ id, diff: state, vector }))
    if ('update' in reply) return reply.update
    throw failure(reply)
  }

  /**
   * `Y.mergeUpdates` of `updates`, computed in the worker (tens of milliseconds for a large
   * document: what encoding it would hold the event loop for). Rejects with Yjs's error for bytes
   * that are no update.
   */
  async merge(updates: readonly Uint8Array[]): Promise<Uint8Array> {
    if (!this.script) return Y.mergeUpdates([...updates])
    const reply = await this.ask((id) => ({ id, merge: updates }))
    if ('update' in reply) return reply.update
    throw failure(reply)
  }

  /**
   * Starts the worker now and resolves once it runs (or failed to start: the next request starts
   * another). Booting one takes tens of milliseconds of CPU: at server start, not during the first
   * open of a large document after a restart, whose client applies it meanwhile.
   */
  async ready(): Promise<void> {
    if (!this.script) return
    this.start()
    await this.booted
  }

  /** Stops the worker (a later build starts another). */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    await worker?.terminate()
  }

  /** The slices of `updates`, or null when they are applied as they are. */
  private async slice(updates: readonly Uint8Array[]): Promise<Uint8Array[] | null> {
    if (!this.script) return sliceDocument(updates, SLICE_STRUCTS)
    const reply = await this.ask((id) => ({ id, updates, maxStructs: SLICE_STRUCTS }))
    if ('slices' in reply) return reply.slices
    throw failure(reply)
  }

  private ask(request: (id: number) => WorkerRequest): Promise<WorkerReply> {
    const id = this.nextId++
    return new Promise<WorkerReply>((resolve) => {
      this.waiting.set(id, resolve)
      this.start().postMessage(request(id))
    })
  }

  private start(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(this.script as URL)
    // Idle, it does not keep the process alive.
    worker.unref()
    this.booted = new Promise((resolve) => {
      const settle = () => resolve()
      worker.once('message', settle).once('error', settle).once('exit', settle)
    })
    worker.on('message', (reply: WorkerReply) => {
      const resolve = this.waiting.get(reply.id)
      this.waiting.delete(reply.id)
      resolve?.(reply)
    })
    // A worker that died (out of memory, say) fails the builds it had; the next one starts anew.
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null
      for (const [id, resolve] of this.waiting)
        resolve({ id, error: `document builder failed: ${error.message}` })
      this.waiting.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)))
    this.worker = worker
    return worker
  }
}

/** The error a reply that is not the one asked for carries. */
function failure(reply: WorkerReply): Error {
  return new Error('error' in reply ? reply.error : 'the document builder answered something else')
}
