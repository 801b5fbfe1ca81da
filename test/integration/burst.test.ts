import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { Connection, Framer } from '../../server/connection.js'
import { CloseCode } from '../../server/errors.js'
import { Stats } from '../../server/metrics.js'
import { until } from '../helpers/wait.js'

/**
 * A Connection over a real socket pair, read by a stock ws client: what a burst (cork, sends,
 * uncork: a room releasing what a write made durable) puts on the wire.
 */
async function pair() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await new Promise((resolve) => server.once('listening', resolve))
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve))
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
  const received: Buffer[] = []
  client.on('message', (data: Buffer) => received.push(data))
  const closed = new Promise<number>((resolve) => client.once('close', resolve))
  await new Promise((resolve) => client.once('open', resolve))
  const connection = new Connection(await accepted, 'burst', false, {
    maxBufferedBytes: 16 * 2 ** 20,
    maxUnsavedBytes: 8 * 2 ** 20,
    maxQueuedMessages: 100,
    rateLimits: null,
    stats: new Stats(),
    log: pino({ level: 'silent' }),
    framer: new Framer(),
    onClose: () => undefined,
  })
  cleanups.push(async () => {
    client.terminate()
    await new Promise((resolve) => server.close(resolve))
  })
  return { connection, received, closed }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

describe('a burst on a connection', () => {
  const small = (byte: number) => new Uint8Array(20).fill(byte)
  const large = new Uint8Array(70_000).fill(9)

  it('reaches the client whole and in order, small frames and large ones alike', async () => {
    const { connection, received } = await pair()
    connection.send(small(1))
    connection.cork()
    connection.send(small(2))
    connection.send(large)
    connection.send(small(3))
    // Held until uncork (the first frame, sent before the burst, has arrived meanwhile).
    await until(() => received.length === 1, 5_000, 'the frame sent before the burst')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(received).toHaveLength(1)
    connection.uncork()
    connection.send(small(4))
    await until(() => received.length === 5, 5_000, 'the burst')
    expect(received.map((frame) => [frame.length, frame[0]])).toEqual([
      [20, 1],
      [20, 2],
      [70_000, 9],
      [20, 3],
      [20, 4],
    ])
  })

  it('writes nothing after the close frame when the connection closes within the burst', async () => {
    const { connection, received, closed } = await pair()
    connection.cork()
    connection.send(small(1))
    connection.close(CloseCode.GoingAway, 'bye')
    connection.uncork()
    expect(await closed).toBe(CloseCode.GoingAway)
    expect(received).toHaveLength(0)
  })
})
