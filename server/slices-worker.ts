/**
 * The worker thread of builder.ts: builds documents and cuts them into slices, reads states,
 * diffs them against state vectors, and merges updates.
 */
import { readlinkSync } from 'node:fs'
import { constants, setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'
import * as Y from 'yjs'
import type { WorkerReply, WorkerRequest } from './builder.js'
import { sliceDocument } from './slices.js'
import { inspectState } from './stored-state.js'

const port = parentPort
if (!port) throw new Error('slices-worker.js runs as a worker thread of the server')

// Background work: on a busy machine the event loop (live rooms) and the clients come first.
// Linux sets a thread's own niceness when given its thread ID; elsewhere this is skipped.
try {
  const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop())
  setPriority(threadId, constants.priority.PRIORITY_LOW)
} catch {
  // No /proc (not Linux): the worker runs at the server's priority.
}
/** What `request` asks for; throws Yjs's error for bytes that do not parse. */
function answer(request: WorkerRequest): WorkerReply {
  const { id } = request
  if ('inspect' in request) return { id, facts: inspectState(request.inspect) }
  if ('diff' in request) return { id, update: Y.diffUpdate(request.diff, request.vector) }
  if ('merge' in request) return { id, update: Y.mergeUpdates([...request.merge]) }
  return { id, slices: sliceDocument(request.updates, request.maxStructs) }
}

/** The buffers a reply carries: moved to the event loop, not copied. */
function carried(reply: WorkerReply): Uint8Array[] {
  if ('slices' in reply) return reply.slices ?? []
  if ('update' in reply) return [reply.update]
  if ('facts' in reply) return [reply.facts.vector, reply.facts.deletions]
  return []
}

port.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply
  try {
    reply = answer(request)
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) }
  }
  port.postMessage(
    reply,
    carried(reply).map((bytes) => bytes.buffer as ArrayBuffer),
  )
})
// Its code is loaded: the builder may count on it (DocBuilder.ready).
port.postMessage({ id: -1, ready: true } satisfies WorkerReply)
