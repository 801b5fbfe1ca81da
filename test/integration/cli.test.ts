import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { parseMarkdown, readDoc, serializeMarkdown, writeDoc } from '../../content/convert.js'
import { type DocMeta, openLevelStore, signToken } from '../../server/index.js'
import { type Client, connectClient, waitForDoc } from '../helpers/clients.js'
import { CLI, type ServerProcess, startProcess, stopProcess } from '../helpers/process.js'
import { type RunningServer, startServer, useTempDirs } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const SECRET = 'cli-admin-secret-that-is-long-enough!'
const PLAN = '# Plan\n\nShip **the CLI** [today](https://example.com).\n\n- one\n- two\n'
const PLAN_HTML =
  '<h1>Plan</h1><p>Ship <strong>the CLI</strong> <a href="https://example.com" rel="noopener noreferrer nofollow">today</a>.</p><ul><li><p>one</p></li><li><p>two</p></li></ul>'
const PLAN_JSON =
  '{"type":"doc","content":[{"type":"heading","attrs":{"level":1},"content":[{"type":"text","text":"Plan"}]},{"type":"paragraph","content":[{"type":"text","text":"Ship "},{"type":"text","marks":[{"type":"bold"}],"text":"the CLI"},{"type":"text","text":" "},{"type":"text","marks":[{"type":"link","attrs":{"href":"https://example.com","title":null}}],"text":"today"},{"type":"text","text":"."}]},{"type":"bullet_list","content":[{"type":"list_item","content":[{"type":"paragraph","content":[{"type":"text","text":"one"}]}]},{"type":"list_item","content":[{"type":"paragraph","content":[{"type":"text","text":"two"}]}]}]}]}'
const PLAN_TEXT = 'Plan\n\nShip the CLI today.\n\none\n\ntwo\n'
const DIARY = 'Monday\n\nTuesday\n'
const LOCKED = (dir: string) =>
  `tandem: --data-dir ${dir} is in use by a running server: use --url http://host:port (and --token for a server with auth)\n`

const servers: RunningServer[] = []
const processes: ServerProcess[] = []
const clients: Client[] = []

const tempDir = useTempDirs()

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const p of processes.splice(0)) await stopProcess(p, 'SIGKILL')
  for (const s of servers.splice(0)) await s.cleanup()
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs the built `tandem` as users do: node and dist/server/main.js, from `cwd` (a folder outside
 * the repository), with none of the CLI's variables inherited unless `env` sets them.
 */
async function tandem(
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; stdin?: string },
): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  for (const name of ['DATA_DIR', 'TANDEM_URL', 'TANDEM_TOKEN', 'AUTH_SECRET'])
    if (!options.env || !(name in options.env)) delete env[name]
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env, stdio: 'pipe' })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  child.stdin.end(options.stdin ?? '')
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

/** Expects the run to have succeeded, and returns its standard output. */
function ok(run: Run): string {
  expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  return run.stdout
}

const markdownOf = (doc: Y.Doc) => serializeMarkdown(readDoc(doc))

function client(running: RunningServer | ServerProcess, room: string, token?: string, doc?: Y.Doc): Client {
  const c = connectClient(running.url, room, {
    ...(token ? { params: { token } } : {}),
    ...(doc ? { doc } : {}),
  })
  clients.push(c)
  return c
}

/** What a stock client receives of `room` once synced. */
async function served(running: RunningServer, room: string, token?: string): Promise<string> {
  const c = client(running, room, token)
  await c.synced()
  return markdownOf(c.doc)
}

/**
 * Writes the seed documents with stock clients on `running`: `plan` (several edits, so several
 * records) and `diary`. Resolves once a second client of each has seen the content, so the server
 * has stored it. Returns the state the author of `plan` ended with.
 */
async function seed(running: RunningServer, token?: string): Promise<Uint8Array> {
  const author = client(running, 'plan', token)
  const writer = client(running, 'diary', token)
  await Promise.all([author.synced(), writer.synced()])
  writeDoc(author.doc, parseMarkdown('# Plan\n\nDraft.\n'))
  writeDoc(author.doc, parseMarkdown('# Plan\n\nShip **the CLI**.\n'))
  writeDoc(author.doc, parseMarkdown(PLAN))
  writeDoc(writer.doc, parseMarkdown(DIARY))
  const [planWatcher, diaryWatcher] = [client(running, 'plan', token), client(running, 'diary', token)]
  await waitForDoc(planWatcher.doc, () => markdownOf(planWatcher.doc) === PLAN)
  await waitForDoc(diaryWatcher.doc, () => markdownOf(diaryWatcher.doc) === DIARY)
  return Y.encodeStateAsUpdate(author.doc)
}

/** A stopped server's data directory holding the seed documents, and a working folder beside it. */
async function seededDataDir(): Promise<{ dir: string; cwd: string; planState: Uint8Array }> {
  const dir = await tempDir()
  const running = await startServer({}, dir)
  const planState = await seed(running)
  for (const c of clients.splice(0)) c.destroy()
  await running.stop()
  return { dir, cwd: await tempDir(), planState }
}

/** The store's metadata of every document, read after the CLI has released the directory. */
async function storedMetas(dir: string): Promise<DocMeta[]> {
  const store = await openLevelStore({ dir })
  try {
    return await store.list()
  } finally {
    await store.close()
  }
}

async function startOn(dir: string, options: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  const running = await startServer(options, dir)
  servers.push(running)
  return running
}

describe('tandem, tandem serve, tandem --help', () => {
  it('lists every admin command and both ways to reach the documents in --help', async () => {
    const out = ok(await tandem(['--help'], { cwd: await tempDir() }))
    for (const text of [
      'Usage: tandem [options]',
      'tandem serve',
      'tandem docs list [--json]',
      'tandem docs export <name>',
      'tandem docs import <name> <file>',
      'tandem docs delete <name>',
      'tandem compact [<name>]',
      'tandem stats',
      'tandem backup <dir>',
      'tandem restore <dir>',
      'env DATA_DIR',
      'env TANDEM_URL',
      'env TANDEM_TOKEN',
    ]) {
      expect(out).toContain(text)
    }
  })

  it('runs the server as `tandem serve` with the same flags', async () => {
    const dir = await tempDir()
    const server = await startProcess(['--data-dir', dir], {}, { command: [process.execPath, CLI, 'serve'] })
    processes.push(server)
    const a = connectClient(server.url, 'served')
    const b = connectClient(server.url, 'served')
    clients.push(a, b)
    await a.synced()
    a.doc.getText('t').insert(0, 'via serve')
    await waitForDoc(b.doc, () => b.doc.getText('t').toString() === 'via serve')
    expect(existsSync(join(dir, 'CURRENT'))).toBe(true)
  })
})

describe('on a stopped server’s data directory (--data-dir)', () => {
  it('docs list: a table, and JSON lines with the store’s sizes', async () => {
    const { dir, cwd } = await seededDataDir()
    const metas = await storedMetas(dir)
    const lines = ok(await tandem(['docs', 'list', '--data-dir', dir], { cwd })).split('\n')
    expect(lines[0]).toMatch(/^NAME +SIZE +MODIFIED +CREATED$/)
    expect(lines[1]).toMatch(
      /^diary +\d+ B +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    )
    expect(lines[2]).toMatch(/^plan +\d+(\.\d)? K?i?B +/)
    expect(lines[3]).toMatch(/^2 documents, /)
    expect(lines.slice(4)).toEqual([''])
    const json = ok(await tandem(['docs', 'list', '--json'], { cwd, env: { DATA_DIR: dir } }))
    expect(
      json
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(
      metas.map((meta) => ({
        name: meta.name,
        created: new Date(meta.createdAt).toISOString(),
        modified: new Date(meta.updatedAt).toISOString(),
        size: meta.bytes,
      })),
    )
  })

  it('docs export: every format exactly, to standard output or to --out (format from its extension)', async () => {
    const { dir, cwd } = await seededDataDir()
    const exported = async (...more: string[]) =>
      ok(await tandem(['docs', 'export', 'plan', '--data-dir', dir, ...more], { cwd }))
    expect(await exported()).toBe(PLAN)
    expect(await exported('--format', 'md')).toBe(PLAN)
    expect(await exported('--format', 'markdown')).toBe(PLAN)
    expect(await exported('--format', 'html')).toBe(PLAN_HTML)
    expect(await exported('--format', 'json')).toBe(PLAN_JSON)
    expect(await exported('--format', 'text')).toBe(PLAN_TEXT)
    expect(await exported('--out', 'plan.html')).toBe('')
    expect(await readFile(join(cwd, 'plan.html'), 'utf8')).toBe(PLAN_HTML)
    const missing = await tandem(['docs', 'export', 'nope', '--data-dir', dir], { cwd })
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: --data-dir ${dir}: no document "nope"\n`,
    })
  })

  it('docs import: one ordinary update appended, which a server started later serves and an editor with the old state merges', async () => {
    const { dir, cwd, planState } = await seededDataDir()
    const before = (await storedMetas(dir)).find((m) => m.name === 'plan')!
    await writeFile(join(cwd, 'new-plan.md'), '# Plan\n\nShipped.\n')
    expect(ok(await tandem(['docs', 'import', 'plan', 'new-plan.md', '--data-dir', dir], { cwd }))).toBe(
      'replaced "plan" from new-plan.md (markdown)\n',
    )
    await writeFile(
      join(cwd, 'notes.htm'),
      '<h2>Notes</h2><p>From <em>HTML</em>.</p><script>alert(1)</script>',
    )
    expect(ok(await tandem(['docs', 'import', 'team/notes', 'notes.htm', '--data-dir', dir], { cwd }))).toBe(
      'created "team/notes" from notes.htm (html)\n',
    )
    expect(
      ok(
        await tandem(['docs', 'import', 'typed', '-', '--format', 'text', '--data-dir', dir], {
          cwd,
          stdin: 'a\n\nb',
        }),
      ),
    ).toBe('created "typed" from standard input (text)\n')
    const after = (await storedMetas(dir)).find((m) => m.name === 'plan')!
    expect(after.records).toBe(before.records + 1)
    expect(after.updates).toBe(before.updates + 1)

    const running = await startOn(dir)
    expect(await served(running, 'plan')).toBe('# Plan\n\nShipped.\n')
    expect(await served(running, 'team/notes')).toBe('## Notes\n\nFrom *HTML*.\n')
    expect(await served(running, 'typed')).toBe('a\n\nb\n')
    // An editor that still holds the state from before the import merges to the imported content.
    const old = new Y.Doc()
    Y.applyUpdate(old, planState)
    const returning = client(running, 'plan', undefined, old)
    await returning.synced()
    await waitForDoc(old, () => markdownOf(old) === '# Plan\n\nShipped.\n')
  })

  it('docs import: content that is not a valid document is refused and nothing changes', async () => {
    const { dir, cwd } = await seededDataDir()
    await writeFile(join(cwd, 'bad.json'), '{"type":"doc","content":[{"type":"video"}]}')
    const run = await tandem(['docs', 'import', 'plan', 'bad.json', '--data-dir', dir], { cwd })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^tandem: bad\.json: invalid document JSON: .*video/)
    const unreadable = await tandem(['docs', 'import', 'plan', 'missing.md', '--data-dir', dir], { cwd })
    expect(unreadable).toEqual({
      code: 1,
      stdout: '',
      stderr: 'tandem: <file> missing.md: cannot read it (ENOENT)\n',
    })
    expect(ok(await tandem(['docs', 'export', 'plan', '--data-dir', dir], { cwd }))).toBe(PLAN)
  })

  it('docs delete: gone from the list; a second delete says there is no such document', async () => {
    const { dir, cwd } = await seededDataDir()
    expect(ok(await tandem(['docs', 'delete', 'diary', '--data-dir', dir], { cwd }))).toBe(
      'deleted "diary"\n',
    )
    expect((await storedMetas(dir)).map((m) => m.name)).toEqual(['plan'])
    expect(await tandem(['docs', 'delete', 'diary', '--data-dir', dir], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: --data-dir ${dir}: no document "diary"\n`,
    })
  })

  it('compact: one document, then all, into one record each, content unchanged', async () => {
    const { dir, cwd } = await seededDataDir()
    // A server compacts what it closes: imports add records.
    await writeFile(join(cwd, 'draft.md'), 'Draft.\n')
    await writeFile(join(cwd, 'entry.txt'), 'Wednesday\n')
    for (const [name, file] of [
      ['plan', 'draft.md'],
      ['plan', 'draft.md'],
      ['diary', 'entry.txt'],
    ] as const) {
      ok(await tandem(['docs', 'import', name, file, '--data-dir', dir], { cwd }))
    }
    expect((await storedMetas(dir)).map((m) => [m.name, m.records])).toEqual([
      ['diary', 2],
      ['plan', 2],
    ])
    const one = ok(await tandem(['compact', 'plan', '--data-dir', dir], { cwd }))
    expect(one).toMatch(/^plan {2}2 records, .+ {2}→ {2}1 record, .+\ncompacted 1 document \(.+ → .+\)\n$/)
    expect((await storedMetas(dir)).map((m) => [m.name, m.records])).toEqual([
      ['diary', 2],
      ['plan', 1],
    ])
    const all = ok(await tandem(['compact', '--data-dir', dir], { cwd }))
    expect(all).toMatch(/^diary {2}2 records, .+\ncompacted 1 document \(.+ → .+\); 1 already one record\n$/)
    expect((await storedMetas(dir)).map((m) => m.records)).toEqual([1, 1])
    expect(ok(await tandem(['docs', 'export', 'plan', '--data-dir', dir], { cwd }))).toBe('Draft.\n')
    expect(ok(await tandem(['docs', 'export', 'diary', '--data-dir', dir], { cwd }))).toBe('Wednesday\n')
    const running = await startOn(dir)
    expect(await served(running, 'diary')).toBe('Wednesday\n')
    await running.stop()
    expect(await tandem(['compact', 'nope', '--data-dir', dir], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: --data-dir ${dir}: no document "nope"\n`,
    })
  })

  it('stats: documents, bytes, records and the largest, as the store has them', async () => {
    const { dir, cwd } = await seededDataDir()
    const metas = await storedMetas(dir)
    const stats = JSON.parse(ok(await tandem(['stats', '--json', '--top', '1', '--data-dir', dir], { cwd })))
    const largest = [...metas].sort((a, b) => b.bytes - a.bytes)[0]!
    const latest = [...metas].sort((a, b) => b.updatedAt - a.updatedAt)[0]!
    expect(stats).toEqual({
      documents: 2,
      bytes: metas[0]!.bytes + metas[1]!.bytes,
      records: metas[0]!.records + metas[1]!.records,
      largest: [{ name: largest.name, size: largest.bytes }],
      lastModified: { name: latest.name, modified: new Date(latest.updatedAt).toISOString() },
    })
    const text = ok(await tandem(['stats', '--data-dir', dir], { cwd }))
    expect(text).toMatch(/^documents {4}2\n/m)
    expect(text).toContain(`(${stats.bytes} bytes)`)
    expect(text).toMatch(new RegExp(`^records {6}${stats.records}$`, 'm'))
    expect(text).toMatch(/^largest\n {2}.+ {2}plan\n {2}.+ {2}diary\n$/m)
  })

  it('backup and restore: a new data directory that a server starts on, restored into a fresh one', async () => {
    const { dir, cwd } = await seededDataDir()
    expect(ok(await tandem(['backup', 'snapshot', '--data-dir', dir], { cwd }))).toMatch(
      new RegExp(`^backed up 2 documents \\(.+\\) from --data-dir ${dir} to snapshot\\n$`),
    )
    const restored = await tempDir()
    expect(ok(await tandem(['restore', 'snapshot', '--data-dir', restored], { cwd }))).toMatch(
      new RegExp(`^restored 2 documents \\(.+\\) from snapshot into --data-dir ${restored}\\n$`),
    )
    const fromRestore = await startOn(restored)
    expect(await served(fromRestore, 'plan')).toBe(PLAN)
    expect(await served(fromRestore, 'diary')).toBe(DIARY)
    await fromRestore.stop()
    // A server starts on the backup itself too.
    const fromBackup = await startOn(join(cwd, 'snapshot'))
    expect(await served(fromBackup, 'plan')).toBe(PLAN)
  })

  it('restore replaces each document the backup holds and leaves the others', async () => {
    const { dir, cwd } = await seededDataDir()
    ok(await tandem(['backup', 'snapshot', '--data-dir', dir], { cwd }))
    await writeFile(join(cwd, 'changed.md'), 'Changed after the backup.\n')
    ok(await tandem(['docs', 'import', 'plan', 'changed.md', '--data-dir', dir], { cwd }))
    ok(await tandem(['docs', 'import', 'later', 'changed.md', '--data-dir', dir], { cwd }))
    ok(await tandem(['restore', 'snapshot', '--data-dir', dir], { cwd }))
    expect((await storedMetas(dir)).map((m) => [m.name, m.records])).toEqual([
      ['diary', 1],
      ['later', 1],
      ['plan', 1],
    ])
    const running = await startOn(dir)
    expect(await served(running, 'plan')).toBe(PLAN)
    expect(await served(running, 'later')).toBe('Changed after the backup.\n')
  })

  it('backup refuses a directory that is not empty and leaves it as it was', async () => {
    const { dir, cwd } = await seededDataDir()
    await mkdir(join(cwd, 'taken'))
    await writeFile(join(cwd, 'taken', 'keep.txt'), 'mine')
    expect(await tandem(['backup', 'taken', '--data-dir', dir], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'tandem: backup taken: the directory exists and is not empty; back up into a new or empty directory\n',
    })
    expect(await readdir(join(cwd, 'taken'))).toEqual(['keep.txt'])
    // An empty one is fine.
    await mkdir(join(cwd, 'empty'))
    ok(await tandem(['backup', 'empty', '--data-dir', dir], { cwd }))
    expect(existsSync(join(cwd, 'empty', 'CURRENT'))).toBe(true)
  })

  it('refuses a data directory that holds no store, without making one', async () => {
    const cwd = await tempDir()
    expect(await tandem(['docs', 'list'], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'tandem: --data-dir ./data: no Tandem data there (for a running server, use --url http://host:port)\n',
    })
    expect(await tandem(['restore', 'nothing', '--data-dir', 'target'], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'tandem: restore nothing: not a Tandem backup or data directory\n',
    })
    expect(await readdir(cwd)).toEqual([])
  })
})

/** util-linux `script`, which runs a command on a pseudo-terminal (Debian has it; macOS's differs). */
const hasScript =
  spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout?.includes('util-linux') ?? false

describe('progress', () => {
  it.skipIf(!hasScript)('is a line rewritten in place on a terminal (and nothing otherwise)', async () => {
    const { dir, cwd } = await seededDataDir()
    const command = [process.execPath, CLI, 'backup', 'snapshot', '--data-dir', dir]
      .map((a) => `'${a}'`)
      .join(' ')
    const child = spawnSync('script', ['-qec', command, '/dev/null'], { cwd, encoding: 'utf8' })
    expect(child.status).toBe(0)
    expect(child.stdout).toContain('\rbackup: 2/2 documents\u001b[K\r\u001b[K')
    expect(child.stdout).toMatch(/backed up 2 documents /)
    // Not a terminal: results only.
    expect(await tandem(['backup', 'other', '--data-dir', dir], { cwd })).toMatchObject({
      code: 0,
      stderr: '',
    })
  })
})

describe('a data directory in use by a running server', () => {
  it('is refused with a message that names --url, exit 1, and the server goes on', async () => {
    const { dir, cwd } = await seededDataDir()
    const running = await startOn(dir)
    for (const args of [
      ['docs', 'list', '--data-dir', dir],
      ['docs', 'export', 'plan', '--data-dir', dir],
      ['docs', 'import', 'plan', 'x.md', '--data-dir', dir],
      ['compact', '--data-dir', dir],
      ['stats', '--data-dir', dir],
      ['backup', 'copy', '--data-dir', dir],
    ]) {
      await writeFile(join(cwd, 'x.md'), 'x')
      expect(await tandem(args, { cwd })).toEqual({ code: 1, stdout: '', stderr: LOCKED(dir) })
    }
    expect(await tandem(['docs', 'list'], { cwd, env: { DATA_DIR: dir } })).toEqual({
      code: 1,
      stdout: '',
      stderr: LOCKED(dir),
    })
    expect(existsSync(join(cwd, 'copy'))).toBe(false)
    expect(await served(running, 'plan')).toBe(PLAN)
  })

  it('is refused as a restore target too', async () => {
    const { dir, cwd } = await seededDataDir()
    ok(await tandem(['backup', 'snapshot', '--data-dir', dir], { cwd }))
    await startOn(dir)
    expect(await tandem(['restore', 'snapshot', '--data-dir', dir], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: LOCKED(dir),
    })
  })
})

describe.each([
  { auth: 'off', options: {} },
  { auth: 'on', options: { authSecret: SECRET } },
])('on a running server (--url), auth $auth', ({ auth, options }) => {
  /** A seeded server, the token a client needs, and the CLI's environment for it. */
  async function setup() {
    const running = await startOn(await tempDir(), options)
    const token =
      auth === 'on'
        ? await signToken(SECRET, { sub: 'ops', docs: ['*'], mode: 'rw', ttlSeconds: 600, admin: true })
        : undefined
    await seed(running, token)
    const url = `http://127.0.0.1:${running.port}`
    const flags = ['--url', url, ...(token ? ['--token', token] : [])]
    return { running, token, url, flags, cwd: await tempDir() }
  }

  it('docs list, export, stats', async () => {
    const { running, url, flags, cwd, token } = await setup()
    const listed = ok(await tandem(['docs', 'list', '--json', ...flags], { cwd }))
    const api = await fetch(`${url}/api/docs`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
    const { docs } = (await api.json()) as { docs: unknown[] }
    expect(
      listed
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(docs)
    expect(ok(await tandem(['docs', 'list', ...flags], { cwd }))).toMatch(
      /^NAME.*\ndiary .*\nplan .*\n2 documents, .*\n$/,
    )
    expect(ok(await tandem(['docs', 'export', 'plan', '--format', 'html', ...flags], { cwd }))).toBe(
      PLAN_HTML,
    )
    expect(ok(await tandem(['docs', 'export', 'plan', '--format', 'json', ...flags], { cwd }))).toBe(
      PLAN_JSON,
    )
    expect(ok(await tandem(['docs', 'export', 'plan', ...flags], { cwd }))).toBe(PLAN)
    // Through the environment instead of flags.
    const env = { TANDEM_URL: url, ...(token ? { TANDEM_TOKEN: token } : {}) }
    expect(ok(await tandem(['docs', 'export', 'diary', '--format', 'text'], { cwd, env }))).toBe(DIARY)
    const stats = JSON.parse(ok(await tandem(['stats', '--json', ...flags], { cwd })))
    const sizes = docs as { name: string; size: number }[]
    expect(stats).toMatchObject({ documents: 2, bytes: sizes[0]!.size + sizes[1]!.size, records: null })
    expect(ok(await tandem(['stats', ...flags], { cwd }))).not.toContain('records')
    expect(await served(running, 'plan', token)).toBe(PLAN)
  })

  it('docs import reaches a connected editor live as one change; docs delete closes it with 4410', async () => {
    const { running, flags, cwd, token } = await setup()
    const editor = client(running, 'plan', token)
    await editor.synced()
    let updates = 0
    editor.doc.on('update', () => updates++)
    await writeFile(join(cwd, 'live.md'), '# Plan\n\nLive.\n')
    expect(ok(await tandem(['docs', 'import', 'plan', 'live.md', ...flags], { cwd }))).toBe(
      'replaced "plan" from live.md (markdown)\n',
    )
    await waitForDoc(editor.doc, () => markdownOf(editor.doc) === '# Plan\n\nLive.\n')
    expect(updates).toBe(1)
    expect(ok(await tandem(['docs', 'import', 'fresh', 'live.md', ...flags], { cwd }))).toBe(
      'created "fresh" from live.md (markdown)\n',
    )
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      (editor.provider as WebsocketProvider).once('closed', resolve),
    )
    expect(ok(await tandem(['docs', 'delete', 'plan', ...flags], { cwd }))).toBe('deleted "plan"\n')
    expect(await closed).toMatchObject({ code: 4410, reason: 'document deleted' })
    expect(await tandem(['docs', 'delete', 'plan', ...flags], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: ${flags.slice(0, 2).join(' ')}: no document "plan"\n`,
    })
  })

  it('backup while it runs, restore into a fresh data directory; restore through --url is refused', async () => {
    const { flags, cwd } = await setup()
    ok(await tandem(['backup', 'snapshot', ...flags], { cwd }))
    const fresh = await tempDir()
    ok(await tandem(['restore', 'snapshot', '--data-dir', fresh], { cwd }))
    const restored = await startOn(fresh)
    expect(await served(restored, 'plan')).toBe(PLAN)
    expect(await served(restored, 'diary')).toBe(DIARY)
    expect(await tandem(['restore', 'snapshot', ...flags], { cwd })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "tandem: restore goes into a stopped server's data directory: stop the server, then use --data-dir\nRun 'tandem --help' for usage.\n",
    })
  })

  it('compact is for a stopped server: exit 2 with a message that says why', async () => {
    const { flags, cwd } = await setup()
    expect(await tandem(['compact', ...flags], { cwd })).toEqual({
      code: 2,
      stdout: '',
      stderr: `tandem: compact works on a stopped server's --data-dir: the server at ${flags.slice(0, 2).join(' ')} compacts each document by itself (past 500 records, and when no editor has it open)\nRun 'tandem --help' for usage.\n`,
    })
  })

  if (auth === 'on') {
    it('names --token when there is none, and the admin token when one for a document is not enough', async () => {
      const { url, cwd } = await setup()
      expect(await tandem(['docs', 'list', '--url', url], { cwd })).toEqual({
        code: 1,
        stdout: '',
        stderr: `tandem: --url ${url}: GET /api/docs answered 401 TANDEM_ERR_UNAUTHORIZED: a token is required (pass a token with --token or TANDEM_TOKEN)\n`,
      })
      const reader = await signToken(SECRET, { sub: 'ada', docs: ['plan'], mode: 'ro', ttlSeconds: 600 })
      // A token for the document is enough to export it, not to list or back up the server.
      expect(ok(await tandem(['docs', 'export', 'plan', '--url', url, '--token', reader], { cwd }))).toBe(
        PLAN,
      )
      expect(await tandem(['backup', 'b', '--url', url, '--token', reader], { cwd })).toEqual({
        code: 1,
        stdout: '',
        stderr: `tandem: --url ${url}: GET /api/backup answered 403 TANDEM_ERR_FORBIDDEN: token does not cover this document (listing, deleting, backup and restore need an admin token: npm run token -- --admin)\n`,
      })
      expect(existsSync(join(cwd, 'b'))).toBe(false)
    })
  }
})

describe('--url edge cases', () => {
  it('waits out 429 as Retry-After says, and finishes', async () => {
    const running = await startOn(await tempDir(), { maxApiRequestsPerSecond: 1 })
    await seed(running)
    const url = `http://127.0.0.1:${running.port}`
    // The limit is real: a burst of two, then 429.
    const statuses = [] as number[]
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${url}/api/docs`)).status)
    expect(statuses).toEqual([200, 200, 429])
    const cwd = await tempDir()
    // A list and two documents: three requests more, on an empty bucket.
    expect(ok(await tandem(['backup', 'snapshot', '--url', url], { cwd }))).toMatch(/^backed up 2 documents /)
    expect(ok(await tandem(['docs', 'export', 'plan', '--data-dir', 'snapshot'], { cwd }))).toBe(PLAN)
  })

  it('says when the server cannot be reached', async () => {
    const closed = await startServer()
    const url = `http://127.0.0.1:${closed.port}`
    await closed.cleanup()
    expect(await tandem(['docs', 'list', '--url', url], { cwd: await tempDir() })).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: --url ${url}: cannot reach the server (ECONNREFUSED)\n`,
    })
  })
})

describe('a backup through --url while two editors type', () => {
  it('holds, for each document, a state one of the editors had: a prefix of what it typed', async () => {
    const running = await startOn(await tempDir(), { maxMessagesPerSecond: 100_000 })
    const url = `http://127.0.0.1:${running.port}`
    const a = { solo: client(running, 'race/a'), shared: client(running, 'race/shared') }
    const b = { solo: client(running, 'race/b'), shared: client(running, 'race/shared') }
    await Promise.all([a.solo, a.shared, b.solo, b.shared].map((c) => c.synced()))
    const paragraphs = (doc: Y.Doc, count: number) => {
      const fragment = doc.getXmlFragment('prosemirror')
      if (fragment.length < count) {
        doc.transact(() => {
          const made = Array.from({ length: count - fragment.length }, () => {
            const paragraph = new Y.XmlElement('paragraph')
            paragraph.insert(0, [new Y.XmlText()])
            return paragraph
          })
          fragment.insert(fragment.length, made)
        })
      }
      return (i: number) => (fragment.get(i) as Y.XmlElement).get(0) as Y.XmlText
    }
    paragraphs(a.solo.doc, 1)
    paragraphs(b.solo.doc, 1)
    paragraphs(a.shared.doc, 2)
    await waitForDoc(b.shared.doc, () => b.shared.doc.getXmlFragment('prosemirror').length === 2)
    // Each editor appends "1 2 3 …" to its own text: one number, one update.
    const typists = [
      { texts: [paragraphs(a.solo.doc, 1)(0), paragraphs(a.shared.doc, 2)(0)], typed: 0 },
      { texts: [paragraphs(b.solo.doc, 1)(0), paragraphs(b.shared.doc, 2)(1)], typed: 0 },
    ]
    let typing = true
    const MAX_TYPED = 5000
    const loops = typists.map(async (typist) => {
      while (typing && typist.typed < MAX_TYPED) {
        typist.typed++
        for (const text of typist.texts) text.insert(text.length, `${typist.typed} `)
        // A typist's pace: a key every millisecond or so, interleaved with the other.
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    })
    await until(() => typists.every((t) => t.typed >= 20), 10_000, 'typing under way')
    const typedBefore = typists.map((t) => t.typed)
    const cwd = await tempDir()
    const backup = await tandem(['backup', 'snapshot', '--url', url], { cwd })
    const typedAfter = typists.map((t) => t.typed)
    typing = false
    await Promise.all(loops)
    expect(backup.stdout).toMatch(/^backed up 3 documents /)
    expect(backup.code).toBe(0)
    // The edits went on during the backup.
    for (const [i, n] of typedAfter.entries()) expect(n).toBeGreaterThan(typedBefore[i]!)

    const fresh = await tempDir()
    ok(await tandem(['restore', 'snapshot', '--data-dir', fresh], { cwd }))
    await running.stop()
    const restored = await startOn(fresh)
    const listed = await (await fetch(`http://127.0.0.1:${restored.port}/api/docs`)).json()
    expect((listed as { docs: { name: string }[] }).docs.map((d) => d.name)).toEqual([
      'race/a',
      'race/b',
      'race/shared',
    ])
    /** How many numbers `text` holds when it is "1 2 … k " exactly (a state the typist had); else -1. */
    const prefixLength = (text: string, typed: number) => {
      const numbers = text === '' ? [] : text.trimEnd().split(' ')
      const exact = numbers.every((n, i) => n === String(i + 1)) && (text === '' || text.endsWith(' '))
      return exact && numbers.length <= typed ? numbers.length : -1
    }
    const textsOf = async (room: string) => {
      const c = client(restored, room)
      await c.synced()
      const fragment = c.doc.getXmlFragment('prosemirror')
      return fragment.toArray().map((p) => ((p as Y.XmlElement).get(0) as Y.XmlText).toString())
    }
    const [soloA] = await textsOf('race/a')
    const [soloB] = await textsOf('race/b')
    const shared = await textsOf('race/shared')
    expect(shared).toHaveLength(2)
    const [typedA, typedB] = [typists[0]!.typed, typists[1]!.typed]
    for (const [text, typed] of [
      [soloA!, typedA],
      [soloB!, typedB],
      [shared[0]!, typedA],
      [shared[1]!, typedB],
    ] as const) {
      const k = prefixLength(text, typed)
      expect(k, `torn or foreign text: ${JSON.stringify(text.slice(-40))}`).toBeGreaterThanOrEqual(1)
    }
  })
})

describe('bad usage', () => {
  it.each([
    [['docs'], 'docs needs a command: list, export, import, delete, versions'],
    [
      ['docs', 'show', 'x'],
      'unknown command "docs show": tandem docs list|export|import|delete|versions (see tandem --help)',
    ],
    [['frobnicate'], 'unknown command "frobnicate": serve, docs, compact, stats, backup, restore, token'],
    [
      ['docs', 'export'],
      'docs export needs <name>: tandem docs export <name> [--format md|html|json|text] [--out <file>]',
    ],
    [
      ['docs', 'import', 'x'],
      'docs import needs <file>: tandem docs import <name> <file> [--format md|html|json|text]',
    ],
    [
      ['docs', 'import', 'x', 'notes.doc'],
      '--format is needed: the format of "notes.doc" does not follow from its extension (.md .markdown .html .htm .json .txt)',
    ],
    [['docs', 'import', 'x', '-'], '--format is needed to read standard input (-)'],
    [['docs', 'import', 'a/../b', 'x.md'], '<name> "a/../b": room name contains a ".." segment'],
    [
      ['docs', 'export', 'x', '--format', 'pdf'],
      '--format must be md, markdown, html, json or text, got "pdf"',
    ],
    [
      ['docs', 'list', '--data-dir', 'a', '--url', 'http://127.0.0.1:1'],
      '--data-dir and --url: give one (a stopped server’s data directory, or a running server’s URL)',
    ],
    [
      ['stats', '--url', 'ftp://x'],
      '--url must be an http(s) URL such as http://127.0.0.1:1234, got "ftp://x"',
    ],
    [['docs', 'list', '--token', 't'], '--token applies with --url only (a data directory needs no token)'],
    [['docs', 'list', '--format', 'md'], '--format does not apply to docs list'],
    [['docs', 'delete', 'a', 'b'], 'unexpected argument "b": tandem docs delete <name>'],
    [['backup'], 'backup needs <dir>: tandem backup <dir>'],
    [['stats', '--top', '0'], '--top must be a whole number from 1 to 1000, got "0"'],
    [['docs', 'list', '--bogus'], "Unknown option '--bogus'"],
    [['restore', 'data'], 'restore data: that is the --data-dir itself; restore into another data directory'],
  ])('%j: names what is wrong, exit 2, and touches nothing', async (args, message) => {
    const cwd = await tempDir()
    expect(await tandem(args, { cwd })).toEqual({
      code: 2,
      stdout: '',
      stderr: `tandem: ${message}\nRun 'tandem --help' for usage.\n`,
    })
    expect(await readdir(cwd)).toEqual([])
  })
})

describe('versions through the CLI', () => {
  it('lists a document’s versions, on a data directory and through --url; backup and restore carry them', async () => {
    const { dir, cwd } = await seededDataDir()
    const running = await startOn(dir)
    const named = await fetch(`http://127.0.0.1:${running.port}/api/docs/plan/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Milestone' }),
    })
    expect(named.status).toBe(201)
    const throughUrl = ok(
      await tandem(['docs', 'versions', 'plan', '--json', '--url', `http://127.0.0.1:${running.port}`], {
        cwd,
      }),
    )
    await running.stop()
    const lines = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
    const versions = lines(
      ok(await tandem(['docs', 'versions', 'plan', '--json', '--data-dir', dir], { cwd })),
    )
    // One recorded when the seeding server unloaded the document, then the named one.
    expect(versions.map((v: { id: number; name: string | null }) => [v.id, v.name])).toEqual([
      [1, null],
      [2, 'Milestone'],
    ])
    expect(lines(throughUrl)).toEqual(versions)
    const table = ok(await tandem(['docs', 'versions', 'plan', '--data-dir', dir], { cwd }))
    expect(table).toMatch(/^#\s+TIME\s+NAME\s+AUTHORS\n/)
    expect(table).toContain('Milestone')
    expect(await tandem(['docs', 'versions', 'nothing', '--data-dir', dir], { cwd })).toEqual({
      code: 1,
      stdout: '',
      stderr: `tandem: --data-dir ${dir}: no document "nothing"\n`,
    })

    ok(await tandem(['backup', 'snapshot', '--data-dir', dir], { cwd }))
    const fresh = await tempDir()
    ok(await tandem(['restore', join(cwd, 'snapshot'), '--data-dir', fresh], { cwd }))
    expect(
      lines(ok(await tandem(['docs', 'versions', 'plan', '--json', '--data-dir', fresh], { cwd }))),
    ).toEqual(versions)
    const restored = await startOn(fresh)
    const milestone = await fetch(
      `http://127.0.0.1:${restored.port}/api/docs/plan/versions/2?format=markdown`,
    )
    expect(await milestone.text()).toBe(PLAN)
  })
})
