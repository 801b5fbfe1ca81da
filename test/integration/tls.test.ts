import { X509Certificate } from 'node:crypto'
import { copyFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { get } from 'node:https'
import { dirname } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { makeCertificate as makeCertificateFiles } from '../helpers/cert.js'
import { waitForDoc } from '../helpers/clients.js'
import { useServer } from '../helpers/fixture.js'
import { startProcess, stopProcess } from '../helpers/process.js'
import { useTempDirs } from '../helpers/server.js'
import { until, waitFor } from '../helpers/wait.js'

// A certificate made for this run only (openssl, self-signed for 127.0.0.1); clients trust it
// explicitly as their CA.
let cert: string
let key: string

/** The fingerprint of the certificate the server at `port` presents to a new connection. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.on('error', reject)
  })
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256

/** Directories of the certificates made, removed once the file's tests are done. */
const certificateDirs: string[] = []
async function makeCertificate() {
  const made = await makeCertificateFiles()
  certificateDirs.push(dirname(made.certFile))
  return made
}
afterAll(async () => {
  await Promise.all(certificateDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

beforeAll(async () => {
  ;({ cert, key } = await makeCertificate())
})

describe('TLS (--tls-cert, --tls-key)', () => {
  // Made per test, after beforeAll has made the certificate.
  const fixture = useServer(() => ({ tls: { cert, key } }))

  it('serves https on the port', async () => {
    const { running } = fixture
    const status = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port: running.port, path: '/healthz', ca: cert }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).on('error', reject)
    })
    expect(status).toBe(200)
  })

  it('syncs stock clients over wss on the same port', async () => {
    const { running } = fixture
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
    const { running } = fixture
    const ws = new WebSocket(`ws://127.0.0.1:${running.port}/secure`)
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'))
      ws.once('error', () => resolve('error'))
    })
    expect(outcome).toBe('error')
  })

  it('serves a renewed certificate to new connections without a restart, and keeps it on bad PEM', async () => {
    const { server, port } = fixture.running
    const renewed = await makeCertificate()
    expect(await servedFingerprint(port)).toBe(fingerprintOf(cert))
    server.reloadTls({ cert: renewed.cert, key: renewed.key })
    expect(await servedFingerprint(port)).toBe(fingerprintOf(renewed.cert))
    expect(() => server.reloadTls({ cert: 'not a certificate', key: renewed.key })).toThrow(/tls|certificate/)
    expect(await servedFingerprint(port)).toBe(fingerprintOf(renewed.cert))
  })
})

describe('TLS in the CLI', () => {
  const tempDir = useTempDirs()

  it('reads the certificate files again on SIGHUP (the CLI)', async () => {
    const first = await makeCertificate()
    const renewed = await makeCertificate()
    const child = await startProcess([
      '--tls-cert',
      first.certFile,
      '--tls-key',
      first.keyFile,
      '--data-dir',
      await tempDir(),
    ])
    try {
      expect(await servedFingerprint(child.port)).toBe(fingerprintOf(first.cert))
      // The renewal writes new files in place, then tells the server.
      copyFileSync(renewed.certFile, first.certFile)
      copyFileSync(renewed.keyFile, first.keyFile)
      child.child.kill('SIGHUP')
      await until(() => child.output().includes('TLS certificate reloaded'), 10_000, 'the reload')
      expect(await servedFingerprint(child.port)).toBe(fingerprintOf(renewed.cert))
    } finally {
      await stopProcess(child)
    }
  })
})
