/**
 * The admin commands' command lines → what to do and where: pure (argv and an environment in, a
 * value or a {@link UsageError} out), so it is tested without a process.
 */
import { extname, resolve } from 'node:path'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import type { Format } from '../../content/convert.js'
import { UsageError } from './errors.js'

/** Where a command works: a stopped server's data directory, or a running server's HTTP API. */
export type Connection =
  | {
      readonly kind: 'data-dir'
      readonly dataDir: string
      /** How messages name it: `--data-dir ./data`. */
      readonly label: string
    }
  | {
      readonly kind: 'url'
      /** The server's base URL (http or https, ending with `/`). */
      readonly url: URL
      /** A JWT sent as `Authorization: Bearer`; null for a server without auth. */
      readonly token: string | null
      /** How messages name it: `--url http://127.0.0.1:1234`. */
      readonly label: string
    }

export type AdminCommand =
  | { readonly command: 'docs list'; readonly json: boolean }
  | {
      readonly command: 'docs export'
      readonly name: string
      readonly format: Format
      /** null: standard output. */
      readonly out: string | null
    }
  | {
      readonly command: 'docs import'
      readonly name: string
      /** `-`: standard input. */
      readonly file: string
      readonly format: Format
    }
  | { readonly command: 'docs delete'; readonly name: string }
  | { readonly command: 'docs versions'; readonly name: string; readonly json: boolean }
  | { readonly command: 'compact'; readonly name: string | null }
  | { readonly command: 'stats'; readonly json: boolean; readonly top: number }
  | { readonly command: 'backup'; readonly dir: string }
  | { readonly command: 'restore'; readonly dir: string }

export interface AdminArgs {
  readonly command: AdminCommand
  readonly connection: Connection
}

type Env = Readonly<Record<string, string | undefined>>

/** The first words that start an admin command (anything else is the server). */
export const ADMIN_COMMANDS: readonly string[] = ['docs', 'compact', 'stats', 'backup', 'restore']

/** Each command's arguments, as usage and messages write them. */
const SPECS = {
  'docs list': { args: [], flags: ['json'] },
  'docs export': { args: ['<name>'], flags: ['format', 'out'] },
  'docs import': { args: ['<name>', '<file>'], flags: ['format'] },
  'docs delete': { args: ['<name>'], flags: [] },
  'docs versions': { args: ['<name>'], flags: ['json'] },
  compact: { args: ['[<name>]'], flags: [] },
  stats: { args: [], flags: ['json', 'top'] },
  backup: { args: ['<dir>'], flags: [] },
  restore: { args: ['<dir>'], flags: [] },
} as const satisfies Record<AdminCommand['command'], { args: readonly string[]; flags: readonly string[] }>

const DOCS_SUBCOMMANDS = ['list', 'export', 'import', 'delete', 'versions'] as const

/** Formats by the names `--format` takes. */
const FORMAT_NAMES: Readonly<Record<string, Format>> = {
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  json: 'json',
  text: 'text',
}

/** Formats by file extension (lower case, with the dot). */
const EXTENSIONS: Readonly<Record<string, Format>> = {
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.html': 'html',
  '.htm': 'html',
  '.json': 'json',
  '.txt': 'text',
}

/** Largest `stats --top`. */
const MAX_TOP = 1000

/** Node's parseArgs, its errors turned into UsageErrors (without its hint about `--`). */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ''))
  }
}

/**
 * Parses `argv` (the words after `tandem`, the command first) with `env` for the variables that
 * stand in for flags (`DATA_DIR`, `TANDEM_URL`, `TANDEM_TOKEN`). Returns 'help' for `-h`/`--help`.
 *
 * @throws UsageError naming the flag or argument that is wrong.
 */
export function parseAdminArgs(argv: readonly string[], env: Env): AdminArgs | 'help' {
  const parsed = parseCommandLine({
    args: argv.slice(1),
    strict: true,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
      format: { type: 'string' },
      out: { type: 'string' },
      top: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const { values } = parsed
  if (values.help) return 'help'
  const positionals = [...parsed.positionals]
  const first = argv[0] ?? ''
  let command: AdminCommand['command']
  if (first === 'docs') {
    const sub = positionals.shift()
    if (sub === undefined) throw new UsageError(`docs needs a command: ${DOCS_SUBCOMMANDS.join(', ')}`)
    if (!(DOCS_SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new UsageError(
        `unknown command "docs ${sub}": tandem docs ${DOCS_SUBCOMMANDS.join('|')} (see tandem --help)`,
      )
    }
    command = `docs ${sub}` as AdminCommand['command']
  } else if (Object.hasOwn(SPECS, first)) {
    command = first as AdminCommand['command']
  } else {
    throw new UsageError(`unknown command "${first}"`)
  }
  const spec: { readonly args: readonly string[]; readonly flags: readonly string[] } = SPECS[command]
  for (const flag of ['json', 'format', 'out', 'top'] as const) {
    if (values[flag] !== undefined && !spec.flags.includes(flag)) {
      throw new UsageError(`--${flag} does not apply to ${command}`)
    }
  }
  const required = spec.args.filter((arg) => !arg.startsWith('['))
  if (positionals.length < required.length) {
    const missing = required[positionals.length]
    throw new UsageError(`${command} needs ${missing}: tandem ${syntaxOf(command)}`)
  }
  if (positionals.length > spec.args.length) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[spec.args.length])}: tandem ${syntaxOf(command)}`,
    )
  }
  for (const [i, value] of positionals.entries()) {
    if (value === '') throw new UsageError(`${spec.args[i]?.replace(/[[\]]/g, '')} must not be empty`)
  }
  const connection = connectionOf(values, env)
  const [one = '', two = ''] = positionals
  if (command === 'restore' && connection.kind === 'url') {
    throw new UsageError(
      "restore goes into a stopped server's data directory: stop the server, then use --data-dir",
    )
  }
  if (
    command === 'restore' &&
    connection.kind === 'data-dir' &&
    resolve(connection.dataDir) === resolve(one)
  ) {
    throw new UsageError(`restore ${one}: that is the --data-dir itself; restore into another data directory`)
  }
  switch (command) {
    case 'docs list':
      return { connection, command: { command, json: values.json === true } }
    case 'docs export': {
      const out = values.out ?? null
      if (out === '') throw new UsageError('--out must be a file path, got ""')
      const format =
        values.format !== undefined
          ? formatFlag(values.format)
          : ((out === null ? undefined : EXTENSIONS[extname(out).toLowerCase()]) ?? 'markdown')
      return { connection, command: { command, name: one, format, out } }
    }
    case 'docs import':
      return {
        connection,
        command: { command, name: one, file: two, format: importFormat(two, values.format) },
      }
    case 'docs delete':
      return { connection, command: { command, name: one } }
    case 'docs versions':
      return { connection, command: { command, name: one, json: values.json === true } }
    case 'compact':
      return { connection, command: { command, name: positionals.length > 0 ? one : null } }
    case 'stats':
      return { connection, command: { command, json: values.json === true, top: topFlag(values.top) } }
    case 'backup':
    case 'restore':
      return { connection, command: { command, dir: one } }
  }
}

/** `tandem <syntax>` of a command, as usage writes it. */
export function syntaxOf(command: AdminCommand['command']): string {
  const spec: { readonly args: readonly string[]; readonly flags: readonly string[] } = SPECS[command]
  const flags = spec.flags.map((flag) =>
    flag === 'format'
      ? '[--format md|html|json|text]'
      : flag === 'json'
        ? '[--json]'
        : `[--${flag} <${flag === 'out' ? 'file' : 'n'}>]`,
  )
  return [command, ...spec.args, ...flags].join(' ')
}

/** Flags win over the environment; TANDEM_URL wins over DATA_DIR (a server's own variable). */
function connectionOf(
  values: { readonly 'data-dir'?: string; readonly url?: string; readonly token?: string },
  env: Env,
): Connection {
  const dirFlag = values['data-dir']
  if (dirFlag !== undefined && values.url !== undefined) {
    throw new UsageError(
      '--data-dir and --url: give one (a stopped server’s data directory, or a running server’s URL)',
    )
  }
  const url = values.url ?? (dirFlag === undefined ? env.TANDEM_URL || undefined : undefined)
  if (url !== undefined) {
    return {
      kind: 'url',
      url: baseUrl(url),
      token: values.token ?? (env.TANDEM_TOKEN || null),
      label: `--url ${url}`,
    }
  }
  if (values.token !== undefined) {
    throw new UsageError('--token applies with --url only (a data directory needs no token)')
  }
  const dataDir = dirFlag ?? (env.DATA_DIR || './data')
  if (dataDir === '') throw new UsageError('--data-dir must be a path, got ""')
  return { kind: 'data-dir', dataDir, label: `--data-dir ${dataDir}` }
}

/** The server's base URL; ws(s) is taken for http(s), and a path prefix (behind a proxy) is kept. */
function baseUrl(raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(
      `--url must be an http(s) URL such as http://127.0.0.1:1234, got ${JSON.stringify(raw)}`,
    )
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') url = new URL(`http${url.href.slice(2)}`)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(
      `--url must be an http(s) URL such as http://127.0.0.1:1234, got ${JSON.stringify(raw)}`,
    )
  }
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(
      `--url must not have a query or fragment (the token goes in --token), got ${JSON.stringify(raw)}`,
    )
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/'
  return url
}

function formatFlag(raw: string): Format {
  const format = FORMAT_NAMES[raw]
  if (!format)
    throw new UsageError(`--format must be md, markdown, html, json or text, got ${JSON.stringify(raw)}`)
  return format
}

function importFormat(file: string, flag: string | undefined): Format {
  if (flag !== undefined) return formatFlag(flag)
  if (file === '-') throw new UsageError('--format is needed to read standard input (-)')
  const format = EXTENSIONS[extname(file).toLowerCase()]
  if (!format) {
    throw new UsageError(
      `--format is needed: the format of ${JSON.stringify(file)} does not follow from its extension (${Object.keys(EXTENSIONS).join(' ')})`,
    )
  }
  return format
}

function topFlag(raw: string | undefined): number {
  if (raw === undefined) return 5
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_TOP) {
    throw new UsageError(`--top must be a whole number from 1 to ${MAX_TOP}, got ${JSON.stringify(raw)}`)
  }
  return Number(raw)
}
