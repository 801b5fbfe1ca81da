import { mkdir, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { useServer } from '../helpers/fixture.js'
import { startProcess, stopProcess } from '../helpers/process.js'
import { tempDataDir } from '../helpers/server.js'

/** A raw GET (fetch would decompress and hide the encoding). */
function getFrom(path: string, port: number, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{
    status: number
    headers: Record<string, string | string[] | undefined>
    body: Buffer
  }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, method }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the built editor over HTTP', () => {
  // A site of the test's own, in its data directory (removed with it).
  const fixture = useServer(async (dataDir) => {
    const site = join(dataDir, 'site')
    await mkdir(join(site, 'assets'), { recursive: true })
    await writeFile(join(site, 'index.html'), '<title>home</title>')
    await writeFile(join(site, 'doc.html'), '<title>doc</title>')
    await writeFile(join(site, 'embed.html'), '<title>embed</title>')
    await writeFile(join(site, 'assets', 'app-1a2b.js'), `console.log(${JSON.stringify('x'.repeat(2000))})`)
    return { staticDir: site }
  })
  const get = (path: string, headers?: Record<string, string>, method?: string) =>
    getFrom(path, fixture.running.port, headers, method)

  it.each([
    ['/', '<title>home</title>'],
    ['/d/team%2Fnotes', '<title>doc</title>'],
    ['/d/a/b/c', '<title>doc</title>'],
    ['/embed', '<title>embed</title>'],
  ])('serves %s', async (path, body) => {
    const res = await get(path)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(res.headers['cache-control']).toBe('no-cache')
    expect(res.body.toString()).toBe(body)
  })

  it('compresses with brotli or gzip and caches hashed assets for a year', async () => {
    const br = await get('/assets/app-1a2b.js', { 'accept-encoding': 'gzip, br' })
    expect(br.headers['content-encoding']).toBe('br')
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(brotliDecompressSync(br.body).toString()).toContain('xxxx')
    const gz = await get('/assets/app-1a2b.js', { 'accept-encoding': 'gzip' })
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gz.body).toString()).toBe(brotliDecompressSync(br.body).toString())
    expect(gz.body.length).toBeLessThan(200)
  })

  it('answers 304 to a matching If-None-Match and HEAD without a body', async () => {
    const first = await get('/')
    const again = await get('/', { 'if-none-match': String(first.headers.etag) })
    expect(again.status).toBe(304)
    const head = await get('/', {}, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
  })

  it('never serves files outside the site, and 404s what is missing', async () => {
    expect((await get('/../package.json')).status).toBe(404)
    expect((await get('/%2e%2e/package.json')).status).toBe(404)
    expect((await get('/assets/missing.js')).status).toBe(404)
  })
})

describe('a server asked to serve an editor it does not have', () => {
  const lines: string[] = []
  // An empty site in the test's data directory, and a logger that keeps the warnings.
  const fixture = useServer(async (dataDir) => {
    const empty = join(dataDir, 'empty')
    await mkdir(empty)
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk))
          done()
        },
      }),
    )
    return { staticDir: empty, logger }
  })
  const get = (path: string) => getFrom(path, fixture.running.port)

  it('warns once at start and answers its pages with how to build it', async () => {
    const empty = join(fixture.running.dataDir, 'empty')
    for (const path of ['/', '/d/team%2Fnotes', '/embed']) {
      const res = await get(path)
      expect(res.status).toBe(503)
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.body.toString()).toContain('<h1>The editor is not built</h1>')
      expect(res.body.toString()).toContain(`<code>${empty}</code>`)
      expect(res.body.toString()).toContain('npm run build')
    }
    // Other paths stay plain 404s, and /healthz is unaffected.
    expect((await get('/assets/app.js')).status).toBe(404)
    expect((await get('/healthz')).status).toBe(200)
    const warnings = lines.map(
      (line) => JSON.parse(line) as { level: number; msg: string; staticDir: string },
    )
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 40, staticDir: empty })
    expect(warnings[0]?.msg).toMatch(/^no built editor to serve: run `npm run build`/)
  })
})

describe('the CLI started from another folder', () => {
  it('serves the editor built into the package, and resolves --static-dir from where it starts', async () => {
    const elsewhere = await tempDataDir()
    const cli = await startProcess(['--data-dir', 'data'], {}, { cwd: elsewhere })
    try {
      for (const path of ['/', '/d/notes']) {
        const res = await getFrom(path, cli.port)
        expect(res.status).toBe(200)
        expect(res.body.toString()).toMatch(/<script type="module"[^>]* src="\/assets\//)
      }
    } finally {
      await stopProcess(cli)
    }
    // An explicit directory is the user's, relative to where they started the server.
    await mkdir(join(elsewhere, 'site'))
    await writeFile(join(elsewhere, 'site', 'index.html'), '<title>mine</title>')
    const own = await startProcess(['--data-dir', 'data', '--static-dir', 'site'], {}, { cwd: elsewhere })
    try {
      expect((await getFrom('/', own.port)).body.toString()).toBe('<title>mine</title>')
    } finally {
      await stopProcess(own)
      await rm(elsewhere, { recursive: true, force: true })
    }
  })
})
