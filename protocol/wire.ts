/**
 * The y-websocket wire, both sides of it: message types, close codes, and the encoders of the
 * frames the server and Tandem's own client send (y-protocols sync and awareness framing over
 * lib0). Browser-safe: the editor imports it as the server does.
 */
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'

/** Top-level message types of the y-websocket protocol, plus Tandem's opt-in `Saved`. */
export const MessageType = {
  Sync: 0,
  Awareness: 1,
  Auth: 2,
  QueryAwareness: 3,
  /** Tandem extension, only for connections that opted in with `?saved=1`. */
  Saved: 100,
} as const

/** WebSocket close codes Tandem sends. 44xx are permanent: y-websocket v3 stops reconnecting. */
export const CloseCode = {
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  Restart: 1012,
  TryAgainLater: 1013,
  BadRequest: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  /** The document was deleted (through the HTTP API or the CLI). */
  Deleted: 4410,
} as const
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/** The bytes `write` puts in a new encoder. */
export function frame(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** Sync step 1: "here is my state vector, send me what I lack". */
export function encodeSyncStep1(stateVector: Uint8Array): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep1)
    encoding.writeVarUint8Array(e, stateVector)
  })
}

/** Sync step 2: the update that answers a step 1. */
export function encodeSyncStep2(update: Uint8Array): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep2)
    encoding.writeVarUint8Array(e, update)
  })
}

/** A document update to relay. */
export function encodeUpdate(update: Uint8Array): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    syncProtocol.writeUpdate(e, update)
  })
}

/** An awareness update (from `encodeAwarenessUpdate`). */
export function encodeAwareness(update: Uint8Array): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Awareness)
    encoding.writeVarUint8Array(e, update)
  })
}

/** y-protocols auth "permission denied", what read-only connections get for a document update. */
export function encodePermissionDenied(reason: string): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Auth)
    encoding.writeVarUint(e, 0)
    encoding.writeVarString(e, reason)
  })
}

/** Tandem's "saved" acknowledgement of marker `seq`. */
export function encodeSaved(seq: number): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, MessageType.Saved)
    encoding.writeVarUint(e, seq)
  })
}
