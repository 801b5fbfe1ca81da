import { close, fdatasync, openSync, readdirSync, readFileSync, unlink, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { StoreError } from './store.js'

/** One LevelDB write as the journal records it: a put, or a delete when `value` is null. */
export interface Op {
  readonly key: Buffer
  readonly value: Buffer | null
}

/**
 * The store's write-ahead journal: every LevelDB write goes to it first, in groups, one
 * `write(2)` per group from the event loop, and reaches LevelDB later in large batches.
 *
 * A write acknowledged by the journal is in the kernel's page cache, so it survives the
 * process being killed, like LevelDB's own (unsynced) log; `sync()` extends that to power loss.
 * The journal is a series of segment files in the data directory (names LevelDB ignores):
 * rotating starts a new one, and a segment is deleted once a LevelDB batch that marks its
 * number as applied is written. At open, the segments after the last applied one are replayed.
 *
 * Segment layout: groups of `[u32 body length][u32 CRC-32 of body][body]`, a body being ops of
 * `[u8 1 put | 0 del][u32 key length][key]` and, for a put, `[u32 value length][value]` (all
 * little-endian). A group is whole or ignored: reading a segment stops at the first group that
 * is cut short or fails its checksum, which only a write that failed or never returned can leave.
 */
export class Journal {
  /** The segment being written; opened on the first write after a rotation. */
  private segment: Segment | null = null
  /** The segment the last group went to. */
  private lastWritten: Segment | null = null
  /** Segments written to since the last sync began. */
  private readonly unsynced = new Set<Segment>()
  private syncing: Promise<void> | null = null
  /** The sync that starts when the running one ends. */
  private queued: Promise<void> | null = null
  /** Segment files on disk, oldest first. */
  private readonly files: number[]
  private buffer = Buffer.allocUnsafe(64 * 1024)
  private readonly closing: Promise<void>[] = []

  /**
   * `last`: the highest segment number already used (new segments get higher ones); `files`:
   * segment files already on disk, to delete with `remove`.
   */
  constructor(
    private readonly dir: string,
    private last: number,
    files: readonly number[],
  ) {
    this.files = [...files]
  }

  /**
   * Appends `ops` to the current segment as one group. Throws `TANDEM_ERR_STORE_WRITE` when the
   * group is not all written; a later group then goes to a new segment, so a torn group can only
   * ever end a segment.
   */
  write(ops: readonly Op[]): void {
    const group = this.encode(ops)
    let segment: Segment
    try {
      segment = this.segment ??= this.openSegment()
    } catch (cause) {
      throw writeError('cannot create a journal segment', cause)
    }
    try {
      for (let offset = 0; offset < group.length; )
        offset += writeSync(segment.fd, group, offset, group.length - offset)
    } catch (cause) {
      this.retire(segment)
      throw writeError(`journal write to ${segmentName(segment.number)} failed`, cause)
    }
    this.lastWritten = segment
  }

  /**
   * Resolves once every group written so far is on disk, in whichever segment (and the directory
   * entry of a new segment). One sync runs at a time and covers only what was written before it
   * began, so a call made meanwhile waits for the next one, shared by every call made meanwhile:
   * syncs complete in the order they were asked for.
   */
  sync(): Promise<void> {
    if (this.lastWritten) this.unsynced.add(this.lastWritten)
    if (this.queued) return this.queued
    if (!this.syncing) return this.startSync()
    const queued = this.syncing.catch(noop).then(() => {
      this.queued = null
      return this.startSync()
    })
    this.queued = queued
    return queued
  }

  /** The highest segment number used so far: every group written is in it or before. */
  get lastSegment(): number {
    return this.last
  }

  /** Ends the current segment (later groups go to a new one); returns `lastSegment`. */
  rotate(): number {
    if (this.segment) this.retire(this.segment)
    return this.last
  }

  /** Deletes the segment files numbered up to `number` (LevelDB has their writes). */
  remove(number: number): void {
    while (this.files.length > 0 && (this.files[0] as number) <= number) {
      const file = join(this.dir, segmentName(this.files.shift() as number))
      // Should this fail, the next start skips the file all the same: the mark says LevelDB has it.
      unlink(file, noop)
    }
  }

  /** Closes the current segment once its syncs are done. Its file stays for `remove`. */
  async close(): Promise<void> {
    this.rotate()
    await Promise.all(this.closing)
  }

  private openSegment(): Segment {
    const number = this.last + 1
    const fd = openSync(join(this.dir, segmentName(number)), 'wx')
    this.last = number
    this.files.push(number)
    return { number, fd, dirSynced: false, failed: null }
  }

  /** No further group goes to `segment`; its descriptor closes after the syncs that may cover it. */
  private retire(segment: Segment): void {
    if (this.segment === segment) this.segment = null
    const closed = Promise.allSettled([this.syncing, this.queued]).then(
      () => new Promise<void>((resolve) => close(segment.fd, () => resolve())),
    )
    this.closing.push(closed)
    closed.then(() => this.closing.splice(this.closing.indexOf(closed), 1))
  }

  private startSync(): Promise<void> {
    const segments = [...this.unsynced]
    this.unsynced.clear()
    const run = (async () => {
      // Linux may report a later sync clean after losing what an earlier one failed to write.
      for (const segment of segments) if (segment.failed) throw segment.failed
      if (segments.some((segment) => !segment.dirSynced)) {
        await syncDirectory(this.dir)
        for (const segment of segments) segment.dirSynced = true
      }
      for (const segment of segments)
        await new Promise<void>((resolve, reject) =>
          fdatasync(segment.fd, (err) => (err ? reject(err) : resolve())),
        )
    })().catch((cause: unknown) => {
      const error = cause instanceof StoreError ? cause : writeError('journal sync failed', cause)
      // What failed to sync may be lost whatever a later sync says: no later sync of these
      // segments succeeds, and later groups go to a new one.
      for (const segment of segments) segment.failed ??= error
      if (this.segment && segments.includes(this.segment)) this.retire(this.segment)
      throw error
    })
    this.syncing = run
    const done = () => {
      if (this.syncing === run) this.syncing = null
    }
    run.then(done, done)
    return run
  }

  /** Encodes `ops` as one group, in the kept buffer unless it is larger than KEPT_BUFFER_BYTES. */
  private encode(ops: readonly Op[]): Buffer {
    let length = GROUP_HEADER
    for (const { key, value } of ops) length += 5 + key.length + (value ? 4 + value.length : 0)
    if (length > this.buffer.length && length <= KEPT_BUFFER_BYTES)
      this.buffer = Buffer.allocUnsafe(Math.min(KEPT_BUFFER_BYTES, Math.max(length, 2 * this.buffer.length)))
    const buffer = length <= this.buffer.length ? this.buffer : Buffer.allocUnsafe(length)
    let at = GROUP_HEADER
    for (const { key, value } of ops) {
      buffer[at] = value ? PUT : DEL
      at = buffer.writeUInt32LE(key.length, at + 1)
      at += key.copy(buffer, at)
      if (value) {
        at = buffer.writeUInt32LE(value.length, at)
        at += value.copy(buffer, at)
      }
    }
    buffer.writeUInt32LE(length - GROUP_HEADER, 0)
    buffer.writeUInt32LE(crc32(buffer.subarray(GROUP_HEADER, length)), 4)
    return buffer.subarray(0, length)
  }
}

interface Segment {
  readonly number: number
  readonly fd: number
  /** Whether its directory entry is known to be on disk. */
  dirSynced: boolean
  /** Why a sync covering it failed. */
  failed: StoreError | null
}

/** Numbers of the segment files in `dir`, oldest first. */
export function segmentsIn(dir: string): number[] {
  const numbers: number[] = []
  for (const name of readdirSync(dir)) {
    const match = SEGMENT_FILE.exec(name)
    if (match) numbers.push(Number(match[1]))
  }
  return numbers.sort((a, b) => a - b)
}

/** The ops of every whole group in segment `number`, in order. */
export function readSegment(dir: string, number: number): Op[] {
  const data = readFileSync(join(dir, segmentName(number)))
  const ops: Op[] = []
  for (let at = 0; at + GROUP_HEADER <= data.length; ) {
    const end = at + GROUP_HEADER + data.readUInt32LE(at)
    if (end > data.length) break
    const body = data.subarray(at + GROUP_HEADER, end)
    if (crc32(body) !== data.readUInt32LE(at + 4)) break
    const group = parseGroup(body)
    if (!group) break
    // (Not a spread: a compaction's group deletes every record of its document.)
    for (const op of group) ops.push(op)
    at = end
  }
  return ops
}

function parseGroup(body: Buffer): Op[] | null {
  const ops: Op[] = []
  for (let at = 0; at < body.length; ) {
    const kind = body[at]
    if ((kind !== PUT && kind !== DEL) || at + 5 > body.length) return null
    const keyEnd = at + 5 + body.readUInt32LE(at + 1)
    if (keyEnd > body.length) return null
    const key = body.subarray(at + 5, keyEnd)
    if (kind === DEL) {
      ops.push({ key, value: null })
      at = keyEnd
      continue
    }
    if (keyEnd + 4 > body.length) return null
    const valueEnd = keyEnd + 4 + body.readUInt32LE(keyEnd)
    if (valueEnd > body.length) return null
    ops.push({ key, value: body.subarray(keyEnd + 4, valueEnd) })
    at = valueEnd
  }
  return ops
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function writeError(message: string, cause: unknown): StoreError {
  return new StoreError('TANDEM_ERR_STORE_WRITE', `${message}: ${(cause as Error).message ?? cause}`, {
    cause,
  })
}

function segmentName(number: number): string {
  return `tandem-journal-${String(number).padStart(12, '0')}`
}

const SEGMENT_FILE = /^tandem-journal-(\d{12,})$/
const GROUP_HEADER = 8
/** Groups up to this size are encoded in a buffer kept for the next; larger ones in their own. */
const KEPT_BUFFER_BYTES = 1024 * 1024
const PUT = 1
const DEL = 0
const noop = (): void => undefined
