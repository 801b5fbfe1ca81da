import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { basename, extname, join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { brotliCompress, gzip, constants as zlibConstants } from 'node:zlib'

const brotli = promisify(brotliCompress)
const gzipAsync = promisify(gzip)

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
}
const COMPRESSIBLE = new Set([
  '.html',
  '.js',
  '.mjs',
  '.css',
  '.json',
  '.map',
  '.svg',
  '.txt',
  '.webmanifest',
])

interface CachedFile {
  readonly mtimeMs: number
  readonly etag: string
  readonly raw: Buffer
  readonly encoded: Map<'br' | 'gzip', Buffer>
}

/**
 * Serves the built editor: `/` → index.html, `/d/<room>` → doc.html, `/embed` → embed.html, other
 * paths → the file itself. Compressed (br, gzip) once per file version and kept in memory; hashed
 * assets are cached by browsers for a year, pages revalidate.
 */
export class StaticFiles {
  private readonly root: string
  private readonly cache = new Map<string, CachedFile>()

  constructor(dir: string) {
    this.root = resolve(dir)
  }

  /** The directory served, absolute. */
  get dir(): string {
    return this.root
  }

  /** Whether the directory holds a built editor (its home page). */
  hasEditor(): boolean {
    return existsSync(join(this.root, 'index.html'))
  }

  /**
   * Answers the request and returns true, or returns false when no file matches. A page of the
   * editor asked of a directory without one is answered 503 with a page that says how to build it.
   */
  async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    const file = this.resolve(pathname)
    if (!file) return false
    const entry = await this.load(file)
    if (!entry) {
      if (!PAGES.has(basename(file)) || this.hasEditor()) return false
      const body = missingEditorPage(this.root)
      res.writeHead(503, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-length': String(Buffer.byteLength(body)),
      })
      res.end(req.method === 'HEAD' ? undefined : body)
      return true
    }
    const ext = extname(file)
    const headers: Record<string, string> = {
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: entry.etag,
      vary: 'accept-encoding',
    }
    if (req.headers['if-none-match'] === entry.etag) {
      res.writeHead(304, headers).end()
      return true
    }
    let body = entry.raw
    const encoding = COMPRESSIBLE.has(ext) ? pickEncoding(req.headers['accept-encoding']) : null
    if (encoding) {
      body = await this.encoded(entry, encoding)
      headers['content-encoding'] = encoding
    }
    headers['content-length'] = String(body.byteLength)
    res.writeHead(200, headers)
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }

  private resolve(pathname: string): string | null {
    let relative: string
    if (pathname === '/' || pathname === '/index.html') relative = 'index.html'
    else if (pathname.startsWith('/d/')) relative = 'doc.html'
    else if (pathname === '/embed') relative = 'embed.html'
    else relative = pathname.slice(1)
    const file = resolve(join(this.root, relative))
    return file.startsWith(this.root + sep) ? file : null
  }

  private async load(file: string): Promise<CachedFile | null> {
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(file)
    } catch {
      return null
    }
    if (!info.isFile()) return null
    const cached = this.cache.get(file)
    if (cached && cached.mtimeMs === info.mtimeMs) return cached
    const entry: CachedFile = {
      mtimeMs: info.mtimeMs,
      etag: `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`,
      raw: await readFile(file),
      encoded: new Map(),
    }
    this.cache.set(file, entry)
    return entry
  }

  private async encoded(entry: CachedFile, encoding: 'br' | 'gzip'): Promise<Buffer> {
    let body = entry.encoded.get(encoding)
    if (!body) {
      body =
        encoding === 'br'
          ? await brotli(entry.raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9 } })
          : await gzipAsync(entry.raw, { level: 9 })
      entry.encoded.set(encoding, body)
    }
    return body
  }
}

const PAGES = new Set(['index.html', 'doc.html', 'embed.html'])

function missingEditorPage(dir: string): string {
  const escaped = dir.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<meta charset="utf-8"><title>Tandem: no editor built</title>
<h1>The editor is not built</h1>
<p>This Tandem server serves the editor from <code>${escaped}</code>, which has none.
The sync server itself works: WebSocket clients can connect.</p>
<p>In a checkout of Tandem, run <code>npm run build</code> (or <code>npm start</code>, which builds
what is missing). Or start the server with <code>--static-dir</code> naming a built editor, or
<code>--static-dir ""</code> to serve none.</p>
`
}

function pickEncoding(header: string | undefined): 'br' | 'gzip' | null {
  if (!header) return null
  const accepted = header.split(',').map((part) => part.trim().split(';')[0])
  if (accepted.includes('br')) return 'br'
  if (accepted.includes('gzip')) return 'gzip'
  return null
}
