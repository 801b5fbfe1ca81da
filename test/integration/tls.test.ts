import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { get } from 'node:https'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { waitForDoc } from '../helpers/clients.js'
import { type RunningServer, startServer, tempDataDir } from '../helpers/server.js'
import { waitFor } from '../helpers/wait.js'

// A certificate made for this run only (openssl, self-signed for 127.0.0.1); clients trust it
// explicitly as their CA.
let cert: string
let key: string
let running: RunningServer

beforeAll(async () => {
  const dir = await tempDataDir()
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  )
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
  key = readFileSync(join(dir, 'key.pem'), 'utf8')
  running = await startServer({ tls: { cert, key } })
})
afterAll(() => running?.cleanup())

describe('TLS (--tls-cert, --tls-key)', () => {
  it('serves https on the port', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port: running.port, path: '/healthz', ca: cert }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).on('error', reject)
    })
    expect(status).toBe(200)
  })

  it('syncs stock clients over wss on the same port', async () => {
    // The stock provider with a WebSocket that trusts the test certificate.
    class TrustingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca: cert })
      }
    }
    const connect = () => {
      const doc = new Y.Doc()
      const provider = new WebsocketProvider(`wss://127.0.0.1:${running.port}`, 'secure', doc, {
        WebSocketPolyfill: TrustingWebSocket as unknown as typeof globalThis.WebSocket,
        disableBc: true,
      })
      return { doc, provider }
    }
    const a = connect()
    const b = connect()
    try {
      await Promise.all([a, b].map((c) => waitFor(c.provider, 'sync', () => c.provider.synced)))
      a.doc.getText('t').insert(0, 'over tls')
      await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'over tls')
    } finally {
      a.provider.destroy()
      b.provider.destroy()
    }
  })

  it('refuses plain ws on the TLS port', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${running.port}/secure`)
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'))
      ws.once('error', () => resolve('error'))
    })
    expect(outcome).toBe('error')
  })
})
