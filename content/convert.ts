import { DOMParser, DOMSerializer, type Fragment, Node, type TagParseRule } from 'prosemirror-model'
import { prosemirrorToYXmlFragment, yXmlFragmentToProseMirrorFragment } from 'y-prosemirror'
import * as Y from 'yjs'
import { parseMarkdown, serializeMarkdown } from './markdown.js'
import { isSafeHref, schema } from './schema.js'

// One conversion module for a document's content, shared by the server, the CLI and the editor:
// nothing here touches Node built-ins or a particular DOM; HTML goes through the DomEnv it is given.

export { parseMarkdown, serializeMarkdown }

/** The formats a document's content converts to and from. */
export type Format = 'json' | 'html' | 'markdown' | 'text'

/** Each format's media type (for HTTP) and file extension (for downloads). */
export const formats: Readonly<Record<Format, { readonly mediaType: string; readonly extension: string }>> = {
  json: { mediaType: 'application/json', extension: 'json' },
  html: { mediaType: 'text/html; charset=utf-8', extension: 'html' },
  markdown: { mediaType: 'text/markdown; charset=utf-8', extension: 'md' },
  text: { mediaType: 'text/plain; charset=utf-8', extension: 'txt' },
}

/** Whether `value` (from the wire) names one of the formats. */
export function isFormat(value: unknown): value is Format {
  return typeof value === 'string' && Object.hasOwn(formats, value)
}

/** Content that is not a document Tandem can hold: bad JSON, a node the schema lacks, an unsafe link. */
export class ContentError extends Error {
  readonly code = 'TANDEM_ERR_CONTENT_INVALID'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ContentError'
  }
}

/** ProseMirror's JSON form of a node (what `Node.toJSON` returns). */
export interface NodeJSON {
  readonly type: string
  readonly attrs?: Readonly<Record<string, unknown>>
  readonly content?: readonly NodeJSON[]
  readonly marks?: readonly { readonly type: string; readonly attrs?: Readonly<Record<string, unknown>> }[]
  readonly text?: string
}

// The DOM types as ProseMirror names them, not lib.dom's: the server is compiled without the DOM
// library (tsconfig.build.json), and there these are left unchecked rather than missing.
type DomNode = Parameters<DOMParser['parse']>[0]
type DomDocument = NonNullable<NonNullable<Parameters<DOMSerializer['serializeFragment']>[1]>['document']>

/**
 * The little of a DOM that HTML conversion needs. The browser passes its own (see the editor);
 * Node passes happy-dom's (`content/dom-node.ts`).
 */
export interface DomEnv {
  /**
   * Parses `html` as a page would and returns its body. The document it makes must be inert: no
   * script runs and nothing loads (as with the browser's `DOMParser`).
   */
  parse(html: string): DomNode
  /** The document serializeHtml creates elements in. */
  readonly document: DomDocument
}

// Elements whose text is not content (the schema's rules already skip script, style, head…).
const htmlParser = new DOMParser(schema, [
  ...['iframe', 'frameset', 'template', 'svg', 'math', 'select', 'textarea'].map(
    (tag): TagParseRule => ({ tag, ignore: true }),
  ),
  ...DOMParser.fromSchema(schema).rules,
])
const htmlSerializer = DOMSerializer.fromSchema(schema)

/**
 * Parses HTML into a document. The schema's parse rules are the allow-list: what they do not name
 * (scripts, event handlers, styles, classes, images, `javascript:` links…) leaves at most its text.
 */
export function parseHtml(html: string, dom: DomEnv): Node {
  return htmlParser.parse(dom.parse(html))
}

/** The document as an HTML fragment (the body's content) with only the schema's tags and attributes. */
export function serializeHtml(doc: Node, dom: DomEnv): string {
  const container = dom.document.createElement('div')
  container.append(htmlSerializer.serializeFragment(doc.content, { document: dom.document }))
  return container.innerHTML
}

/** The text of a textblock: its text, a hard break as a newline. */
function textOf(block: Node): string {
  let text = ''
  block.forEach((inline) => {
    text += inline.isText ? inline.text : inline.type === schema.nodes.hard_break ? '\n' : ''
  })
  return text
}

/**
 * The document as plain text: each block that holds text (paragraph, heading, list item's
 * paragraph, code block…) with a blank line between blocks, a hard break as a newline, no markup
 * at all (no bullets, no `#`), empty blocks left out; ends with a newline unless empty.
 * parseText reads it back.
 */
export function docToText(doc: Node): string {
  const blocks: string[] = []
  doc.descendants((node) => {
    if (!node.isTextblock) return true
    const text = textOf(node)
    if (text !== '') blocks.push(text)
    return false
  })
  return blocks.length === 0 ? '' : `${blocks.join('\n\n')}\n`
}

/**
 * Plain text as a document: blank lines (lines of nothing or only spaces) separate paragraphs,
 * other line breaks become hard breaks. The inverse of docToText for its own output.
 */
export function parseText(text: string): Node {
  const paragraphs = text
    .replace(/\r\n?/g, '\n')
    .replace(/^\n+|\n+$/g, '')
    .split(/\n[ \t]*\n(?:[ \t]*\n)*/)
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => {
      const inline = paragraph
        .split('\n')
        .flatMap((line, i) => [
          ...(i > 0 ? [schema.nodes.hard_break.create()] : []),
          ...(line === '' ? [] : [schema.text(line)]),
        ])
      return schema.nodes.paragraph.create(null, inline)
    })
  return schema.topNodeType.createAndFill(null, paragraphs)!
}

/** Tandem's own rules beyond the schema's content expressions (which node.check() enforces). */
function checkTandemRules(doc: Node): void {
  doc.descendants((node) => {
    if (node.type === schema.nodes.heading && ![1, 2, 3].includes(node.attrs.level)) {
      throw new ContentError(`heading level must be 1, 2 or 3, got ${JSON.stringify(node.attrs.level)}`)
    }
    if (
      node.type === schema.nodes.ordered_list &&
      !(Number.isSafeInteger(node.attrs.order) && node.attrs.order >= 0)
    ) {
      throw new ContentError(
        `ordered_list order must be a whole number ≥ 0, got ${JSON.stringify(node.attrs.order)}`,
      )
    }
    for (const mark of node.marks) {
      if (mark.type === schema.marks.link && !isSafeHref(mark.attrs.href)) {
        throw new ContentError(
          `link href must be http(s), mailto, relative (/…) or #…, got ${JSON.stringify(mark.attrs.href)}`,
        )
      }
    }
  })
}

/**
 * A document from its ProseMirror JSON (as docToJSON writes it).
 *
 * @throws ContentError when `json` is not a valid document of the Tandem schema: not a `doc` at the
 *   top, an unknown node or mark, content where the schema does not allow it, a missing attribute,
 *   a heading level other than 1–3, or a link to an address isSafeHref refuses.
 */
export function docFromJSON(json: unknown): Node {
  let doc: Node
  try {
    doc = Node.fromJSON(schema, json)
    doc.check()
  } catch (error) {
    // Node.fromJSON and check throw RangeError (and TypeError on some malformed shapes).
    const reason = error instanceof Error ? error.message : String(error)
    throw new ContentError(`invalid document JSON: ${reason}`, { cause: error })
  }
  if (doc.type !== schema.topNodeType) {
    throw new ContentError(`invalid document JSON: the top node must be "doc", got "${doc.type.name}"`)
  }
  checkTandemRules(doc)
  return doc
}

/** The document's ProseMirror JSON; docFromJSON reads it back. */
export function docToJSON(doc: Node): NodeJSON {
  return doc.toJSON() as NodeJSON
}

/**
 * Parses `body` in `format` into a document (`dom` is used for HTML only).
 *
 * @throws ContentError for JSON that is not JSON or not a valid document (see docFromJSON).
 */
export function parseContent(body: string, format: Format, dom: DomEnv): Node {
  switch (format) {
    case 'json': {
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch (error) {
        throw new ContentError(`invalid document JSON: ${(error as Error).message}`, { cause: error })
      }
      return docFromJSON(json)
    }
    case 'html':
      return parseHtml(body, dom)
    case 'markdown':
      return parseMarkdown(body)
    case 'text':
      return parseText(body)
  }
}

/** The document in `format` (`dom` is used for HTML only). */
export function serializeContent(doc: Node, format: Format, dom: DomEnv): string {
  switch (format) {
    case 'json':
      return JSON.stringify(docToJSON(doc))
    case 'html':
      return serializeHtml(doc, dom)
    case 'markdown':
      return serializeMarkdown(doc)
    case 'text':
      return docToText(doc)
  }
}

/** The name of the Y.XmlFragment the editor binds to (y-prosemirror's default). */
export const FRAGMENT = 'prosemirror'

/**
 * The document in `ydoc` (its XmlFragment `prosemirror`); an empty one reads as one empty paragraph.
 * `ydoc` is left as it is.
 *
 * @throws ContentError when the stored nodes do not fit the schema's top level.
 */
export function readDoc(ydoc: Y.Doc): Node {
  // y-prosemirror deletes the nodes it cannot convert while converting (y-prosemirror #271): read a
  // copy, so that reading never changes the document.
  const copy = new Y.Doc()
  try {
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(ydoc))
    const content: Fragment = yXmlFragmentToProseMirrorFragment(copy.getXmlFragment(FRAGMENT), schema)
    const doc = schema.topNodeType.createAndFill(null, content)
    if (!doc) throw new ContentError('the stored document does not fit the schema at its top level')
    return doc
  } finally {
    copy.destroy()
  }
}

/**
 * Makes the content of `ydoc`'s XmlFragment `prosemirror` equal to `doc`, in one Yjs transaction
 * (with `origin`) that changes only what differs: connected editors receive one ordinary update,
 * and edits made concurrently elsewhere in the document survive the merge.
 *
 * @throws TypeError when `doc` is not a `doc` node of the Tandem schema.
 */
export function writeDoc(ydoc: Y.Doc, doc: Node, origin?: unknown): void {
  if (doc.type !== schema.topNodeType) throw new TypeError('writeDoc needs a doc node of the Tandem schema')
  const fragment = ydoc.getXmlFragment(FRAGMENT)
  // y-prosemirror diffs into the fragment in nested transactions, which join this one.
  ydoc.transact(() => prosemirrorToYXmlFragment(doc, fragment), origin)
}
