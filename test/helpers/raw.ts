import { request } from 'node:http'
import { expect } from 'vitest'
import { type ClientOptions, WebSocket } from 'ws'
import * as Y from 'yjs'
import { connectClient, waitForDoc } from './clients.js'
import type { RunningServer } from './server.js'

/** One valid update: `text` typed at the start of `doc`'s text (a fresh client's by default). */
export function textUpdate(text: string, doc = new Y.Doc()): Uint8Array {
  let update: Uint8Array | null = null
  doc.once('update', (u: Uint8Array) => {
    update = u
  })
  doc.getText('t').insert(0, text)
  if (!update) throw new Error('no update')
  return update
}

/** A bare WebSocket for hand-built frames: records what it receives and how it was closed. */
export interface RawSocket {
  readonly ws: WebSocket
  readonly received: Uint8Array[]
  readonly opened: Promise<void>
  /** Resolves with the close code and reason the server sent. */
  readonly closed: Promise<{ readonly code: number; readonly reason: string }>
}

export function rawSocket(url: string, options: ClientOptions = {}): RawSocket {
  const ws = new WebSocket(url, options)
  const received: Uint8Array[] = []
  ws.on('message', (data) => received.push(new Uint8Array(data as Buffer)))
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
    )
    ws.once('error', reject)
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  opened.catch(() => undefined)
  return { ws, received, opened, closed }
}

/** Opens a socket, sends `frames` (binary unless strings), and resolves with how the server closed it. */
export async function sendAndClose(
  url: string,
  frames: readonly (Uint8Array | string)[],
): Promise<{ readonly code: number; readonly reason: string }> {
  const socket = rawSocket(url)
  await socket.opened
  for (const frame of frames) socket.ws.send(frame, { binary: typeof frame !== 'string' })
  return socket.closed
}

/** The HTTP status and body with which an upgrade to `path` is refused (or 101). */
export function upgradeStatus(
  running: RunningServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ readonly status: number; readonly body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: running.port,
      path,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, body: '' })
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The document of `room` as a newcomer receives it, encoded (byte-for-byte comparable). */
export async function snapshot(running: RunningServer, room: string): Promise<Uint8Array> {
  const c = connectClient(running.url, room)
  try {
    await c.synced()
    return Y.encodeStateAsUpdate(c.doc)
  } finally {
    c.destroy()
  }
}

/**
 * What must hold after any attack: the server answers health checks, two clients of another room
 * still sync with each other, and `room` (written before the attack) is byte-for-byte unchanged.
 */
export async function expectUnharmed(
  running: RunningServer,
  room: string,
  before: Uint8Array,
): Promise<void> {
  const health = await fetch(`http://127.0.0.1:${running.port}/healthz`)
  expect(health.status).toBe(200)
  const a = connectClient(running.url, `bystander-${Math.random()}`)
  const b = connectClient(running.url, a.provider.roomname)
  try {
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'still here')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'still here')
  } finally {
    a.destroy()
    b.destroy()
  }
  expect(await snapshot(running, room)).toEqual(before)
}

/** Writes `text` into `room` through a stock client and returns the room's snapshot. */
export async function seedRoom(running: RunningServer, room: string, text: string): Promise<Uint8Array> {
  const c = connectClient(running.url, room)
  try {
    await c.synced()
    c.doc.getText('t').insert(0, text)
    const check = connectClient(running.url, room)
    try {
      await waitForDoc(check.doc, () => check.doc.getText('t').toString() === text)
    } finally {
      check.destroy()
    }
  } finally {
    c.destroy()
  }
  return snapshot(running, room)
}
