// The package as strangers meet it: packed from this checkout, installed into a fresh folder
// outside the repository (no access to its node_modules), run with npx from a third folder, and
// embedded into a new Vite app that is built and opened in Chromium.
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserAvailable, editorText, launchChromium, typeAtEnd } from '../helpers/browser.js'
import { connectClient, waitForDoc } from '../helpers/clients.js'
import { type ServerProcess, startProcess, stopProcess } from '../helpers/process.js'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** A version of a devDependency as this repository pins it, so the app gets what CI cached. */
async function repoVersion(name: string): Promise<string> {
  const lock = JSON.parse(await readFile(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>
  }
  const entry = lock.packages[`node_modules/${name}`]
  if (!entry) throw new Error(`${name} is not in package-lock.json`)
  return entry.version
}

let work: string
let app: string
let third: string
let tandem: ServerProcess

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tandem-package-'))
  // `npm pack` runs prepack, which builds what is stale (nothing, after `npm test`'s build).
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', work], { cwd: REPO })
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }]
  const shipped = packed.files.map((file) => file.path)
  expect(shipped).toContain('dist/server/main.js')
  expect(shipped).toContain('dist/editor/index.html')
  expect(shipped).toContain('dist/editor-lib/tandem-editor.js')
  expect(shipped).toContain('dist/editor-lib/style.css')
  expect(shipped).toContain('LICENSE')
  expect(shipped.filter((path) => /^(test|bench|server|editor|dist\/bench)\//.test(path))).toEqual([])

  app = join(work, 'app')
  await run('mkdir', [app])
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'embedding-app', private: true, type: 'module' }),
  )
  const devTools = await Promise.all(
    ['vite', 'typescript', '@types/node'].map(async (name) => `${name}@${await repoVersion(name)}`),
  )
  await run(
    npm,
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed.filename), ...devTools],
    { cwd: app },
  )
  // npx from a third folder, as a user who installed the package would start it.
  third = join(work, 'third')
  await run('mkdir', [third])
  tandem = await startProcess(
    [],
    {},
    {
      command: [npm, 'exec', '--prefix', app, '--', 'tandem'],
      cwd: third,
      group: true,
    },
  )
}, 240_000)

afterAll(async () => {
  if (tandem) await stopProcess(tandem)
  await rm(work, { recursive: true, force: true })
})

describe('npx tandem from another folder', () => {
  it('serves the editor and syncs documents', async () => {
    const base = `http://127.0.0.1:${tandem.port}`
    const home = await fetch(`${base}/`)
    expect(home.status).toBe(200)
    const page = await (await fetch(`${base}/d/team%2Fnotes`)).text()
    const script = /<script type="module"[^>]* src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1]
    expect(script).toBeDefined()
    expect((await fetch(`${base}${script}`)).status).toBe(200)
    // The data directory is ./data where the server was started.
    expect(await readdir(join(third, 'data'))).not.toEqual([])

    const a = connectClient(tandem.url, 'packaged')
    const b = connectClient(tandem.url, 'packaged')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'from an installed package')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'from an installed package')
    a.destroy()
    b.destroy()
  })

  it('types the server library and the editor for an app written in TypeScript', async () => {
    await writeFile(
      join(app, 'check.ts'),
      [
        "import { createServer, type ServerOptions } from 'tandem'",
        "import { mountEditor, defineTandemEditor, type MountedEditor } from 'tandem/editor'",
        "const options: ServerOptions = { port: 0, dataDir: './data' }",
        'export const server = createServer(options)',
        'export const mount = (el: HTMLElement): MountedEditor =>',
        "  mountEditor(el, { serverUrl: 'http://localhost:1234', room: 'notes' })",
        'defineTandemEditor()',
        '',
      ].join('\n'),
    )
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          types: ['node'],
          skipLibCheck: true,
          noEmit: true,
        },
        files: ['check.ts'],
      }),
    )
    // A wrong name in either import would fail here.
    await run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', app])
  })
})

/** Serves a built site on its own origin, as another app would be. */
async function serveSite(dir: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const file = join(dir, path === '/' ? 'index.html' : path.slice(1))
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'text/plain' })
      res.end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return { server, url: `http://127.0.0.1:${address.port}` }
}

describe.runIf(browserAvailable())('an app that embeds the editor from the tarball', () => {
  it('builds with Vite and its pages edit one document through the Tandem server', async () => {
    await writeFile(
      join(app, 'index.html'),
      `<!doctype html>
<html><head><meta charset="utf-8"><title>Embedding app</title></head>
<body>
  <div id="mounted"></div>
  <tandem-editor id="element" user-name="Element" user-color="#0090ff" offline="false"></tandem-editor>
  <script type="module" src="/main.ts"></script>
</body></html>
`,
    )
    await writeFile(
      join(app, 'main.ts'),
      `import { defineTandemEditor, mountEditor } from 'tandem/editor'
import 'tandem/editor/style.css'

const params = new URLSearchParams(location.search)
const serverUrl = params.get('server') ?? ''
const room = params.get('room') ?? ''
mountEditor(document.getElementById('mounted') as HTMLElement, {
  serverUrl,
  room,
  offline: false,
  user: { name: 'Mounted', color: '#e5484d' },
})
const element = document.getElementById('element') as HTMLElement
element.setAttribute('server', serverUrl)
element.setAttribute('room', room)
defineTandemEditor()
`,
    )
    await run(process.execPath, [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
      cwd: app,
    })
    const assets = join(app, 'dist', 'assets')
    const scripts = (await readdir(assets)).filter((file) => file.endsWith('.js'))
    const bundle = (await Promise.all(scripts.map((file) => readFile(join(assets, file), 'utf8')))).join('\n')
    // Exactly one copy of Yjs: its guard against a second copy is in the bundle once.
    expect(bundle.split('Yjs was already imported').length - 1).toBe(1)

    const site = await serveSite(join(app, 'dist'))
    const browser = await launchChromium()
    try {
      const url = `${site.url}/?server=${encodeURIComponent(`http://127.0.0.1:${tandem.port}`)}&room=embedded`
      const open = async () => {
        const context = await browser.newContext()
        const page = await context.newPage()
        const problems: string[] = []
        page.on('console', (message) => {
          if (message.text().includes('Yjs was already imported')) problems.push(message.text())
        })
        page.on('pageerror', (error) => problems.push(String(error)))
        await page.goto(url)
        await expect.poll(() => page.locator('.tandem-content').count()).toBe(2)
        return { page, problems }
      }
      const first = await open()
      const second = await open()
      await typeAtEnd(first.page, 'typed in the mounted editor', 0)
      // The other page's custom element, on another origin's page, gets it through the server.
      await expect.poll(() => editorText(second.page, 1)).toBe('typed in the mounted editor')
      await typeAtEnd(second.page, ' and the element', 1)
      await expect.poll(() => editorText(first.page, 0)).toBe('typed in the mounted editor and the element')
      expect([...first.problems, ...second.problems]).toEqual([])
    } finally {
      await browser.close()
      site.server.close()
    }
  })
})
