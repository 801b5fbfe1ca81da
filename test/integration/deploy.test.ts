// The example nginx site in deploy/ as a self-hoster would use it: TLS terminated by nginx, the
// WebSocket upgrade passed through, plain http redirected. Only ports and file paths are changed.
import { readFile, rm } from 'node:fs/promises'
import { get as httpGet } from 'node:http'
import { get as httpsGet } from 'node:https'
import { dirname } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { assertBuilt, distPath } from '../helpers/built.js'
import { makeCertificate } from '../helpers/cert.js'
import { connectClient, waitForDoc } from '../helpers/clients.js'
import { freePort, nginxAvailable, type RunningNginx, startNginx } from '../helpers/nginx.js'
import { type RunningServer, startServer } from '../helpers/server.js'
import { waitFor } from '../helpers/wait.js'

describe.runIf(nginxAvailable())('deploy/nginx-site.conf in front of Tandem', () => {
  let tandem: RunningServer
  let nginx: RunningNginx
  let cert: string
  let certDir: string | undefined
  let httpPort: number
  let httpsPort: number

  beforeAll(async () => {
    // The editor as users get it: built (and not older than the sources).
    assertBuilt()
    const certificate = await makeCertificate()
    cert = certificate.cert
    certDir = dirname(certificate.certFile)
    tandem = await startServer({ staticDir: distPath('editor'), trustProxy: true })
    ;[httpPort, httpsPort] = [await freePort(), await freePort()]
    const site = (await readFile('deploy/nginx-site.conf', 'utf8'))
      .replace('server 127.0.0.1:1234;', `server 127.0.0.1:${tandem.port};`)
      .replace(/^\s*listen \[::\].*$/gm, '')
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${httpsPort} ssl http2;`)
      .replace(/ssl_certificate .*;/, `ssl_certificate ${certificate.certFile};`)
      .replace(/ssl_certificate_key .*;/, `ssl_certificate_key ${certificate.keyFile};`)
    nginx = await startNginx(site, [httpPort, httpsPort])
  })
  afterAll(async () => {
    await nginx?.stop()
    await tandem?.cleanup()
    if (certDir) await rm(certDir, { recursive: true, force: true })
  })

  it('is a valid configuration', async () => {
    expect(await nginx.check()).toMatch(/test is successful/)
  })

  it('redirects http to https and serves the editor over https', async () => {
    const redirect = await new Promise<{ status?: number; location?: string }>((resolve, reject) =>
      httpGet(
        { host: '127.0.0.1', port: httpPort, path: '/d/notes', headers: { host: 'docs.test' } },
        (res) => {
          res.resume()
          resolve({ status: res.statusCode, location: res.headers.location })
        },
      ).on('error', reject),
    )
    expect(redirect).toEqual({ status: 301, location: 'https://docs.test/d/notes' })
    const page = await new Promise<{ status?: number; body: string }>((resolve, reject) =>
      httpsGet({ host: '127.0.0.1', port: httpsPort, path: '/d/notes', ca: cert }, (res) => {
        let body = ''
        res.on('data', (d) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode, body }))
      }).on('error', reject),
    )
    expect(page.status).toBe(200)
    expect(page.body).toMatch(/<script type="module"[^>]* src="\/assets\//)
  })

  it('passes the WebSocket upgrade through: a wss client through nginx syncs with a direct one', async () => {
    class TrustingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca: cert })
      }
    }
    const doc = new Y.Doc()
    const proxied = new WebsocketProvider(`wss://127.0.0.1:${httpsPort}`, 'behind-nginx', doc, {
      WebSocketPolyfill: TrustingWebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    })
    const direct = connectClient(tandem.url, 'behind-nginx')
    try {
      await waitFor(proxied, 'sync', () => proxied.synced)
      await direct.synced()
      doc.getText('t').insert(0, 'through nginx')
      await waitForDoc(direct.doc, () => direct.doc.getText('t').toString() === 'through nginx')
      direct.doc.getText('t').insert(0, 'and back ')
      await waitForDoc(doc, () => doc.getText('t').toString() === 'and back through nginx')
    } finally {
      proxied.destroy()
      direct.destroy()
    }
  })
})
