/**
 * The parts of updates a Y.Doc holds back because changes they depend on are missing. Yjs keeps
 * them in `doc.store.pendingStructs` and `doc.store.pendingDs`, which are internals, not API: this
 * is the one place that reads them, and test/unit/pending.test.ts pins what it relies on, so a Yjs
 * upgrade that changes them fails there first.
 */
import type * as Y from 'yjs'

/** Whether `doc` holds parts of updates waiting for missing changes. */
export function hasPending(doc: Y.Doc): boolean {
  return doc.store.pendingStructs !== null || doc.store.pendingDs !== null
}

/** Bytes of the updates `doc` holds back. */
export function pendingBytes(doc: Y.Doc): number {
  return (doc.store.pendingStructs?.update.byteLength ?? 0) + (doc.store.pendingDs?.byteLength ?? 0)
}

/** Drops what `doc` holds back (it was never applied, stored or relayed). */
export function dropPending(doc: Y.Doc): void {
  doc.store.pendingStructs = null
  doc.store.pendingDs = null
}
