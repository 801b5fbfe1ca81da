/**
 * The server's side of the y-websocket codec: decoding a client's frames (with the server's error
 * codes), awareness entries kept as bytes, and checks of updates. Pure: no socket, room or disk.
 * The encoders and message types both sides use are in protocol/wire.ts (browser-safe).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { CloseCode, frame, MessageType } from '../protocol/wire.js'
import { ConnectionError, invalidPayload } from './errors.js'
import { isJsonText } from './json-text.js'

export type Message =
  | { readonly kind: 'sync-step1'; readonly stateVector: Uint8Array }
  | { readonly kind: 'sync-step2'; readonly update: Uint8Array }
  /** `frame`: the whole message, which can be relayed as it came. */
  | { readonly kind: 'sync-update'; readonly update: Uint8Array; readonly frame: Uint8Array }
  | { readonly kind: 'awareness'; readonly update: Uint8Array }
  | { readonly kind: 'query-awareness' }
  | { readonly kind: 'saved'; readonly seq: number }

/**
 * Decodes one binary frame. Throws a {@link ConnectionError} naming what is wrong for anything that
 * is not exactly one well-formed message (the payloads themselves are checked by their consumers).
 */
export function decodeMessage(frame: Uint8Array): Message {
  const decoder = decoding.createDecoder(frame)
  let message: Message
  try {
    message = readMessage(decoder, frame)
  } catch (error) {
    if (error instanceof ConnectionError) throw error
    throw malformed('truncated message', error)
  }
  if (decoding.hasContent(decoder)) throw malformed('trailing bytes after message')
  return message
}

function readMessage(decoder: decoding.Decoder, frame: Uint8Array): Message {
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case MessageType.Sync: {
      const syncType = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      switch (syncType) {
        case syncProtocol.messageYjsSyncStep1:
          return { kind: 'sync-step1', stateVector: payload }
        case syncProtocol.messageYjsSyncStep2:
          return { kind: 'sync-step2', update: payload }
        case syncProtocol.messageYjsUpdate:
          return { kind: 'sync-update', update: payload, frame }
        default:
          throw new ConnectionError(
            'TANDEM_ERR_UNKNOWN_MESSAGE',
            CloseCode.ProtocolError,
            `unknown sync message type ${syncType}`,
          )
      }
    }
    case MessageType.Awareness:
      return { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MessageType.QueryAwareness:
      return { kind: 'query-awareness' }
    case MessageType.Saved:
      return { kind: 'saved', seq: decoding.readVarUint(decoder) }
    default:
      throw new ConnectionError(
        'TANDEM_ERR_UNKNOWN_MESSAGE',
        CloseCode.ProtocolError,
        `unknown message type ${type}`,
      )
  }
}

function malformed(what: string, cause?: unknown): ConnectionError {
  return new ConnectionError(
    'TANDEM_ERR_MALFORMED_MESSAGE',
    CloseCode.ProtocolError,
    `malformed message: ${what}`,
    {
      cause,
    },
  )
}

export interface AwarenessEntry {
  readonly clientId: number
  readonly clock: number
  /** The client's state as JSON text, not decoded. */
  readonly state: Uint8Array
  /** The whole entry (client ID, clock and state) as it came, to be relayed as is. */
  readonly bytes: Uint8Array
}

/**
 * The entries of an awareness update, undecoded (y-protocols layout: count, then per entry the
 * client ID, its clock and its JSON state). Throws a ConnectionError when the bytes do not parse;
 * the JSON itself is checked by {@link assertJsonState}, only for entries that are kept.
 */
export function awarenessEntries(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  try {
    const count = decoding.readVarUint(decoder)
    const entries: AwarenessEntry[] = []
    for (let i = 0; i < count; i++) {
      const start = decoder.pos
      const clientId = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      const state = decoding.readVarUint8Array(decoder)
      entries.push({ clientId, clock, state, bytes: update.subarray(start, decoder.pos) })
    }
    return entries
  } catch (cause) {
    throw invalidPayload('invalid awareness update', cause)
  }
}

const NULL_STATE = new TextEncoder().encode('null')

/** Whether an entry's state is `null`: the client left. */
export function isRemoval(state: Uint8Array): boolean {
  return state.byteLength === 4 && NULL_STATE.every((byte, i) => state[i] === byte)
}

/**
 * Throws a ConnectionError unless `state` is JSON that stock clients can read (they decode and
 * `JSON.parse` every state they receive, and one that throws would cost them the rest of the
 * message).
 */
export function assertJsonState(state: Uint8Array): void {
  if (!isJsonText(state)) throw invalidPayload('invalid awareness update: a state is not JSON', null)
}

/**
 * An entry's bytes as a one-byte string (one latin1 character per byte): how presence keeps the
 * entries it relays, in a third of the memory a typed array that small takes.
 */
export function entryText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** The state an entry (as `entryText`) holds, parsed; undefined when it is not JSON. */
export function entryState(entry: string): unknown {
  const decoder = decoding.createDecoder(Buffer.from(entry, 'latin1'))
  decoding.readVarUint(decoder)
  decoding.readVarUint(decoder)
  try {
    return JSON.parse(decoding.readVarString(decoder))
  } catch {
    return undefined
  }
}

/** An awareness entry saying `clientId` left, at `clock` (as `entryText`). */
export function encodeRemoval(clientId: number, clock: number): string {
  return entryText(
    frame((e) => {
      encoding.writeVarUint(e, clientId)
      encoding.writeVarUint(e, clock)
      encoding.writeVarUint8Array(e, NULL_STATE)
    }),
  )
}

/** How many bytes lib0 writes for `n` (an integer ≥ 0) as a var uint: 7 bits a byte. */
function varUintLength(n: number): number {
  let length = 1
  for (let rest = n; rest > 0x7f; rest = Math.floor(rest / 0x80)) length++
  return length
}

/** Writes `n` as lib0 writes a var uint (7 bits a byte, low first), at `at`; returns where it ends. */
function putVarUint(target: Buffer, at: number, n: number): number {
  let rest = n
  let end = at
  while (rest > 0x7f) {
    target[end++] = 0x80 | (rest & 0x7f)
    rest = Math.floor(rest / 0x80)
  }
  target[end++] = rest
  return end
}

/**
 * An awareness message of `entries` (from `entryText` or `encodeRemoval`), written straight into
 * one buffer: a room sends one for every change it relays.
 */
export function encodeAwarenessEntries(entries: readonly string[]): Uint8Array {
  let bytes = 0
  for (const entry of entries) bytes += entry.length
  const body = varUintLength(entries.length) + bytes
  const message = Buffer.allocUnsafe(varUintLength(MessageType.Awareness) + varUintLength(body) + body)
  let at = putVarUint(message, 0, MessageType.Awareness)
  at = putVarUint(message, at, body)
  at = putVarUint(message, at, entries.length)
  for (const entry of entries) at += message.write(entry, at, 'latin1')
  return message
}

/** Whether a Yjs update carries nothing (what a client with no news sends as its sync step 2). */
export function isEmptyUpdate(update: Uint8Array): boolean {
  // Zero structs, zero delete-set entries.
  return update.byteLength === 2 && update[0] === 0 && update[1] === 0
}

/** Whether a state vector is a fresh client's: it holds nothing yet. */
export function isEmptyStateVector(stateVector: Uint8Array): boolean {
  return stateVector.byteLength === 1 && stateVector[0] === 0
}

/** A Yjs update's structs and delete set, as `Y.decodeUpdate` reads them. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>

/**
 * Parses a Yjs (v1) update whole and checks that each client has one section, as Yjs writes it.
 * Its bytes are relayed, and merged with others, as they came, so they must read the same way
 * everywhere: Yjs itself keeps one of a client's repeated sections, a merge keeps both. (Within a
 * section Yjs reads the clocks one after another.) Returns what it read; throws a 1007
 * {@link ConnectionError} otherwise.
 */
export function decodeYjsUpdate(update: Uint8Array): DecodedUpdate {
  let decoded: DecodedUpdate
  try {
    decoded = Y.decodeUpdate(update)
  } catch (cause) {
    throw invalidPayload('invalid document update', cause)
  }
  const { structs } = decoded
  const sections = decoding.readVarUint(decoding.createDecoder(update))
  if (sections > 1 && new Set(structs.map((struct) => struct.id.client)).size !== sections) {
    throw invalidPayload('invalid document update: a client section repeats or skips clocks', null)
  }
  return decoded
}
