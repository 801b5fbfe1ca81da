import { EventEmitter } from 'node:events'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { WebSocket } from 'ws'
import { MessageType } from '../../protocol/wire.js'
import type { Client } from './clients.js'
import { waitFor } from './wait.js'

export interface SavingClient extends Client {
  /** Every "saved" acknowledgement received, in order. */
  readonly acks: number[]
  /** Sends a "saved" marker: acknowledged once every update sent before it is stored. */
  mark(seq: number): void
  /** Resolves once marker `seq` was acknowledged. */
  acked(seq: number, timeoutMs?: number): Promise<void>
}

/**
 * A stock provider connected with `saved=1` (see `connectClient(..., { params: { saved: '1' } })`)
 * that sends "saved" markers and records the acknowledgements, as the editor does.
 */
export function savingClient(client: Client): SavingClient {
  const acks: number[] = []
  const events = new EventEmitter()
  client.provider.messageHandlers[MessageType.Saved] = (
    _encoder: encoding.Encoder,
    decoder: decoding.Decoder,
  ) => {
    acks.push(decoding.readVarUint(decoder))
    events.emit('ack')
  }
  return {
    ...client,
    acks,
    mark(seq) {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, MessageType.Saved)
      encoding.writeVarUint(e, seq)
      ;(client.provider.ws as unknown as WebSocket).send(encoding.toUint8Array(e))
    },
    acked: (seq, timeoutMs = 10_000) => waitFor(events, 'ack', () => acks.includes(seq), timeoutMs),
  }
}
