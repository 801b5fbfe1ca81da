import type { Node } from 'prosemirror-model'
import { ySyncPluginKey } from 'y-prosemirror'
import type * as Y from 'yjs'
import {
  ContentError,
  type DomEnv,
  formats,
  parseContent,
  serializeContent,
  writeDoc,
} from '../content/convert.js'

/** The formats a document is exported to and imported from in the editor. */
export type FileFormat = 'markdown' | 'html'

/** The largest file Import takes: its update must stay well under the server's message limit. */
const MAX_IMPORT_BYTES = 4 * 1024 * 1024

/** The browser's own DOM for the conversion module: a DOMParser document runs and loads nothing. */
function browserDom(): DomEnv {
  return { parse: (html) => new DOMParser().parseFromString(html, 'text/html').body, document }
}

/** `team/notes: draft?` → `team-notes- draft-.md`: the document's name as a file name. */
export function fileName(name: string, format: FileFormat): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes.
  const base = name.replace(/[\\/:*?"<>|\u0000-\u001f\u007f]/g, '-').trim() || 'document'
  return `${base}.${formats[format].extension}`
}

/** The format of a file to import, from its name (`.md`, `.markdown`, `.html`, `.htm`); null otherwise. */
export function fileFormat(name: string): FileFormat | null {
  const extension = /\.([^./]+)$/.exec(name)?.[1]?.toLowerCase()
  if (extension === 'md' || extension === 'markdown') return 'markdown'
  if (extension === 'html' || extension === 'htm') return 'html'
  return null
}

/** A whole HTML page holding the document, titled with its name. */
function htmlPage(doc: Node, name: string): string {
  const page = document.implementation.createHTMLDocument(name)
  const charset = page.createElement('meta')
  charset.setAttribute('charset', 'utf-8')
  page.head.prepend(charset)
  page.body.innerHTML = serializeContent(doc, 'html', { ...browserDom(), document: page })
  return `<!doctype html>\n${page.documentElement.outerHTML}\n`
}

/** Downloads `doc` as a Markdown or HTML file named after the document (`name`). */
export function downloadDocument(doc: Node, name: string, format: FileFormat): void {
  const text = format === 'html' ? htmlPage(doc, name) : serializeContent(doc, format, browserDom())
  const url = URL.createObjectURL(new Blob([text], { type: formats[format].mediaType }))
  const link = document.createElement('a')
  link.href = url
  link.download = fileName(name, format)
  link.hidden = true
  document.body.append(link)
  link.click()
  link.remove()
  // Some browsers read the blob after click() returns: free it on a later task, not now.
  setTimeout(() => URL.revokeObjectURL(url))
}

/**
 * Replaces the content of `ydoc` with the file's, as one change that everyone in the document
 * receives and that this person can undo with `undo` (the editor's undo manager) as a step of its own.
 *
 * @throws ContentError for a file that is not Markdown or HTML by its name, or larger than
 *   {@link MAX_IMPORT_BYTES}.
 */
export async function importFile(ydoc: Y.Doc, file: File, undo: Y.UndoManager | undefined): Promise<void> {
  const format = fileFormat(file.name)
  if (!format) throw new ContentError(`${file.name} is not a Markdown (.md) or HTML (.html) file`)
  if (file.size > MAX_IMPORT_BYTES) {
    throw new ContentError(`${file.name} is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB`)
  }
  const content = parseContent(await file.text(), format, browserDom())
  // The undo manager merges changes less than half a second apart: not typing with the import.
  undo?.stopCapturing()
  // The origin the undo manager tracks (the editor's own changes have it too).
  writeDoc(ydoc, content, ySyncPluginKey)
  undo?.stopCapturing()
}
