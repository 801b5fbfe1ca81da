/**
 * What a reading room (reading-room.ts) knows of the stored state it serves, without building a
 * `Y.Doc`: its state vector, for the server's sync step 1, and its delete set, to tell whether a
 * client's update changes it. A client that holds the document answers the server's sync step 1
 * with its whole delete set even when it has nothing new: that must not cost a build.
 */
import * as Y from 'yjs'

/** Read in the builder's worker; plain bytes, so they cross to the event loop without a copy. */
export interface StateFacts {
  /** Its state vector, encoded. */
  readonly vector: Uint8Array
  /**
   * Its delete set as an update of no structs: byte for byte what a client holding exactly this
   * state answers the server's sync step 1 with (Yjs writes delete sets in one canonical form).
   */
  readonly deletions: Uint8Array
}

/** Reads `state` (an update) twice, without decoding its contents: milliseconds for a large one. */
export function inspectState(state: Uint8Array): StateFacts {
  const vector = Y.encodeStateVectorFromUpdate(state)
  return { vector, deletions: Y.diffUpdate(state, vector) }
}

/** The facts of one state, with its snapshot built from them when first needed. */
export class KnownState {
  /** Per client, the clock its structs reach: a few entries, read at once. */
  private readonly clocks: Map<number, number>
  private decoded: Y.Snapshot | null = null

  constructor(readonly facts: StateFacts) {
    this.clocks = Y.decodeStateVector(facts.vector)
  }

  /**
   * What a client with the state vector `clocks` lacks of the state, when it holds every struct:
   * the delete set alone, which is `Y.diffUpdate(state, vector)` byte for byte without reading the
   * state again. Null for a client that lacks some struct (the worker diffs for it).
   */
  answerHolder(clocks: Map<number, number>): Uint8Array | null {
    for (const [client, clock] of this.clocks) if ((clocks.get(client) ?? 0) < clock) return null
    return this.facts.deletions
  }

  /**
   * Whether `update` adds nothing to the state: a client holding exactly it (its delete set, byte
   * for byte: microseconds), or else what Yjs finds (`Y.snapshotContainsUpdate`: every struct and
   * every deletion it carries is there, a few milliseconds for a large document). False for bytes
   * that are no update.
   */
  addsNothing(update: Uint8Array): boolean {
    if (Buffer.from(update.buffer, update.byteOffset, update.byteLength).equals(this.facts.deletions))
      return true
    try {
      return Y.snapshotContainsUpdate(this.snapshot(), update)
    } catch {
      return false
    }
  }

  private snapshot(): Y.Snapshot {
    // (An update of no structs: decoding it reads the delete set alone.)
    this.decoded ??= Y.createSnapshot(Y.decodeUpdate(this.facts.deletions).ds, this.clocks)
    return this.decoded
  }
}
