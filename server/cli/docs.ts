/** `tandem docs list|export|import|delete`: documents one at a time, on any {@link Target}. */
import { readFile, stat, writeFile } from 'node:fs/promises'
import type { Node } from 'prosemirror-model'
import * as Y from 'yjs'
import {
  ContentError,
  type DomEnv,
  type Format,
  parseContent,
  readDoc,
  serializeContent,
} from '../../content/convert.js'
import { HttpError } from '../errors.js'
import { checkRoomName } from '../http.js'
import { DEFAULTS } from '../options.js'
import { CommandError, UsageError } from './errors.js'
import { type CommandIO, formatBytes, formatTime, plural, table, write } from './format.js'
import { progress } from './progress.js'
import type { DocSummary, Target } from './target.js'

/** Largest file `docs import` reads, in bytes. */
const MAX_IMPORT_BYTES = 64 * 2 ** 20

/**
 * Lists every document: a table for people, or with `json` one JSON object a line, shaped like
 * the HTTP API's list entries (`name`, `created`, `modified`, `size`).
 */
export async function listDocs(target: Target, options: { readonly json: boolean }, io: CommandIO) {
  const docs = await listWithProgress(target, io)
  if (options.json) {
    for (const doc of docs) {
      const { name, createdAt, updatedAt, bytes } = doc
      const entry = {
        name,
        created: new Date(createdAt).toISOString(),
        modified: new Date(updatedAt).toISOString(),
        size: bytes,
      }
      await write(io.stdout, `${JSON.stringify(entry)}\n`)
    }
    return
  }
  if (docs.length === 0) {
    await write(io.stdout, 'no documents\n')
    return
  }
  const rows = docs.map((doc) => [
    doc.name,
    formatBytes(doc.bytes),
    formatTime(doc.updatedAt),
    formatTime(doc.createdAt),
  ])
  const total = docs.reduce((sum, doc) => sum + doc.bytes, 0)
  await write(io.stdout, table([['NAME', 'SIZE', 'MODIFIED', 'CREATED'], ...rows], [1]))
  await write(io.stdout, `${plural(docs.length, 'document')}, ${formatBytes(total)}\n`)
}

/** `tandem docs versions <name>`: a table, or JSON lines as the API lists versions. */
export async function listVersions(
  target: Target,
  options: { readonly name: string; readonly json: boolean },
  io: CommandIO,
) {
  const versions = await target.versions(options.name)
  if (versions === null) throw notFound(target, options.name)
  if (options.json) {
    for (const { id, at, name, authors } of versions) {
      await write(io.stdout, `${JSON.stringify({ id, at: new Date(at).toISOString(), name, authors })}\n`)
    }
    return
  }
  if (versions.length === 0) {
    await write(io.stdout, 'no versions yet\n')
    return
  }
  const rows = versions.map((v) => [
    String(v.id),
    formatTime(v.at),
    v.name ?? '',
    v.authors.map((a) => a.name ?? a.id).join(', '),
  ])
  await write(io.stdout, table([['#', 'TIME', 'NAME', 'AUTHORS'], ...rows], [0]))
}

/** Every document of `target`, with a progress line while the list comes (page by page over HTTP). */
export async function listWithProgress(target: Target, io: CommandIO): Promise<DocSummary[]> {
  const line = progress(io, 'listing')
  try {
    return await target.list((listed) => line.update(listed))
  } finally {
    line.end()
  }
}

/**
 * Writes the document's content in `format` to the `out` file, or to standard output: exactly
 * the bytes the HTTP API answers for `?format=`, no newline added.
 */
export async function exportDoc(
  target: Target,
  options: { readonly name: string; readonly format: Format; readonly out: string | null },
  io: CommandIO,
): Promise<void> {
  const { name, format, out } = options
  const state = await target.state(name)
  if (state === null) throw notFound(target, name)
  const ydoc = new Y.Doc()
  let doc: Node
  try {
    Y.applyUpdate(ydoc, state)
    doc = readDoc(ydoc)
  } catch (error) {
    throw new CommandError(
      'TANDEM_ERR_STORE',
      `${target.label}: ${JSON.stringify(name)} cannot be read as a document: ${(error as Error).message}`,
      { cause: error },
    )
  } finally {
    ydoc.destroy()
  }
  const text = await withDom(format, (dom) => serializeContent(doc, format, dom))
  if (out === null) {
    await write(io.stdout, text)
    return
  }
  try {
    await writeFile(out, text)
  } catch (error) {
    throw new CommandError('TANDEM_ERR_FILE', `--out ${out}: cannot write it (${codeOf(error)})`, {
      cause: error,
    })
  }
}

/**
 * Replaces the document's content with the file's (`-`: standard input), parsed as `format`, as
 * one ordinary change; creates the document when there is none.
 */
export async function importDoc(
  target: Target,
  options: { readonly name: string; readonly file: string; readonly format: Format },
  io: CommandIO,
): Promise<void> {
  const { name, file, format } = options
  const text = (file === '-' ? await readStdin(io) : await readImportFile(file)).replace(/^\uFEFF/, '')
  let doc: Node
  try {
    doc = await withDom(format, (dom) => parseContent(text, format, dom))
  } catch (error) {
    if (!(error instanceof ContentError)) throw error
    throw new CommandError('TANDEM_ERR_FILE', `${file === '-' ? 'standard input' : file}: ${error.message}`, {
      cause: error,
    })
  }
  const { created } = await target.write(name, doc)
  const from = file === '-' ? 'standard input' : file
  await write(
    io.stdout,
    `${created ? 'created' : 'replaced'} ${JSON.stringify(name)} from ${from} (${format})\n`,
  )
}

/**
 * Checks a name for a new document against the server's room-name rules (a document no editor
 * could open is not made).
 *
 * @throws UsageError naming `<name>`.
 */
export function checkNewName(name: string): void {
  try {
    checkRoomName(name, DEFAULTS.maxRoomNameBytes)
  } catch (error) {
    if (error instanceof HttpError) throw new UsageError(`<name> ${JSON.stringify(name)}: ${error.message}`)
    throw error
  }
}

/** Deletes the document (through a running server, its editors are closed with 4410). */
export async function deleteDoc(target: Target, options: { readonly name: string }, io: CommandIO) {
  if (!(await target.delete(options.name))) throw notFound(target, options.name)
  await write(io.stdout, `deleted ${JSON.stringify(options.name)}\n`)
}

export function notFound(target: Target, name: string): CommandError {
  return new CommandError('TANDEM_ERR_NOT_FOUND', `${target.label}: no document ${JSON.stringify(name)}`)
}

/** Runs `convert` with a DOM for HTML (happy-dom, loaded only then, closed after). */
async function withDom<T>(format: Format, convert: (dom: DomEnv) => T): Promise<T> {
  if (format !== 'html') return convert(NO_DOM)
  const { createNodeDom } = await import('../../content/dom-node.js')
  const dom = createNodeDom()
  try {
    return convert(dom)
  } finally {
    await dom.close()
  }
}

/** The conversions of every format but HTML never touch the DOM. */
const NO_DOM: DomEnv = {
  parse() {
    throw new Error('no DOM outside HTML')
  },
  get document(): DomEnv['document'] {
    throw new Error('no DOM outside HTML')
  },
}

async function readImportFile(file: string): Promise<string> {
  try {
    const { size } = await stat(file)
    if (size > MAX_IMPORT_BYTES) {
      throw new CommandError(
        'TANDEM_ERR_FILE',
        `<file> ${file}: larger than ${formatBytes(MAX_IMPORT_BYTES)}`,
      )
    }
    return await readFile(file, 'utf8')
  } catch (error) {
    if (error instanceof CommandError) throw error
    throw new CommandError('TANDEM_ERR_FILE', `<file> ${file}: cannot read it (${codeOf(error)})`, {
      cause: error,
    })
  }
}

async function readStdin(io: CommandIO): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    size += bytes.byteLength
    if (size > MAX_IMPORT_BYTES) {
      throw new CommandError(
        'TANDEM_ERR_FILE',
        `standard input: larger than ${formatBytes(MAX_IMPORT_BYTES)}`,
      )
    }
    chunks.push(bytes)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error)
}
