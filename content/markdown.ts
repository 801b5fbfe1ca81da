import MarkdownIt, { type StateCore, type StateInline, type Token } from 'markdown-it'
import {
  MarkdownParser,
  MarkdownSerializer,
  type MarkdownSerializerState,
  type ParseSpec,
} from 'prosemirror-markdown'
import type { Mark, Node } from 'prosemirror-model'
import { isSafeHref, type MarkName, type NodeName, schema } from './schema.js'

// The dialect, both ways: CommonMark with `~~strike~~`, GitHub task lists (`- [ ] x`, `- [x] x`)
// and underline as `<u>…</u>`, the one piece of inline HTML read back. Any other HTML stays text.
// Only addresses isSafeHref accepts make links; `[x](javascript:…)` stays text, as written.
// Headings 4 to 6 become level 3, the deepest the schema has; an image becomes its alt text.

const md = new MarkdownIt('commonmark', { html: false }).enable('strikethrough')
md.validateLink = isSafeHref

/** `<u>…</u>` as an underline mark, when the closing tag is on the same inline run. */
function underline(state: StateInline, silent: boolean): boolean {
  const start = state.pos
  if (!state.src.startsWith('<u>', start)) return false
  const end = state.src.indexOf('</u>', start + 3)
  if (end === -1 || end + 4 > state.posMax) return false
  if (!silent) {
    // Like a link's label: the inside is inline Markdown of its own, emphasis balanced within.
    const max = state.posMax
    state.push('u_open', 'u', 1)
    state.pos = start + 3
    state.posMax = end
    state.md.inline.tokenize(state)
    state.posMax = max
    state.push('u_close', 'u', -1)
  }
  state.pos = end + 4
  return true
}
md.inline.ruler.before('autolink', 'underline', underline)

const TASK = /^\[([ xX])\](?:[ \t]|$)/

interface TaskMark {
  readonly item: Token
  readonly checked: boolean
  /** The text token that starts with the box. */
  readonly text: Token
}

/** The `[ ]`/`[x]` the item at `tokens[item]` starts with, unescaped; null when it is no task. */
function taskMark(tokens: readonly Token[], item: number): TaskMark | null {
  if (tokens[item + 1]?.type !== 'paragraph_open') return null
  // Before text_join: an escaped `\[` is a token of its own here, so `\[ ] x` is no task.
  const text = tokens[item + 2]?.children?.[0]
  const match = text?.type === 'text' ? TASK.exec(text.content) : null
  return text && match ? { item: tokens[item]!, checked: match[1] !== ' ', text } : null
}

/** Bullet lists whose items all start with `[ ]` or `[x]` become task lists. */
function taskLists(state: StateCore): void {
  const { tokens } = state
  tokens.forEach((list, start) => {
    if (list.type !== 'bullet_list_open') return
    // The list's own items open and close one level in, up to the list's close.
    const items: Token[] = []
    const marks: (TaskMark | null)[] = []
    let end = start + 1
    for (; end < tokens.length; end++) {
      const token = tokens[end]!
      if (token.level === list.level && token.type === 'bullet_list_close') break
      if (token.level !== list.level + 1) continue
      items.push(token)
      if (token.nesting === 1) marks.push(taskMark(tokens, end))
    }
    if (!marks.every((mark): mark is TaskMark => mark !== null)) return
    list.type = 'task_list_open'
    tokens[end]!.type = 'task_list_close'
    for (const item of items) item.type = item.nesting === 1 ? 'task_item_open' : 'task_item_close'
    for (const { item, checked, text } of marks) {
      item.meta = { checked }
      text.content = text.content.replace(TASK, '')
    }
  })
}

/** Images become their alt text: the schema has no images. */
function imagesAsText(state: StateCore): void {
  for (const token of state.tokens) {
    if (token.type !== 'inline' || !token.children) continue
    token.children = token.children.flatMap((child) =>
      child.type === 'image' ? (child.children ?? []) : child,
    )
  }
}
md.core.ruler.after('inline', 'task_lists', taskLists)
md.core.ruler.after('task_lists', 'images_as_text', imagesAsText)

const clampLevel = (level: number) => Math.min(Math.max(Math.trunc(level) || 1, 1), 3)

const tokens: Record<string, ParseSpec> = {
  blockquote: { block: 'blockquote' },
  paragraph: { block: 'paragraph' },
  heading: { block: 'heading', getAttrs: (tok) => ({ level: clampLevel(Number(tok.tag.slice(1))) }) },
  code_block: { block: 'code_block', noCloseToken: true },
  fence: { block: 'code_block', noCloseToken: true },
  hr: { node: 'horizontal_rule' },
  bullet_list: { block: 'bullet_list' },
  ordered_list: { block: 'ordered_list', getAttrs: (tok) => ({ order: Number(tok.attrGet('start') ?? 1) }) },
  list_item: { block: 'list_item' },
  task_list: { block: 'task_list' },
  task_item: { block: 'task_item', getAttrs: (tok) => ({ checked: tok.meta?.checked === true }) },
  hardbreak: { node: 'hard_break' },
  link: {
    mark: 'link',
    getAttrs: (tok) => ({ href: tok.attrGet('href'), title: tok.attrGet('title') || null }),
  },
  strong: { mark: 'bold' },
  em: { mark: 'italic' },
  u: { mark: 'underline' },
  s: { mark: 'strike' },
  code_inline: { mark: 'code' },
} satisfies Record<string, ParseSpec & { block?: NodeName; node?: NodeName; mark?: MarkName }>

const parser = new MarkdownParser(schema, md, tokens)

/** Parses Markdown (the dialect described above) into a document of the Tandem schema. */
export function parseMarkdown(markdown: string): Node {
  return parser.parse(markdown)
}

type NodeSerializer = (state: MarkdownSerializerState, node: Node, parent: Node, index: number) => void

/**
 * Markdown joins two lists that follow each other when they use the same marker, so every other
 * list in a run of lists of one family (bullet and task lists; numbered lists) takes the second one.
 */
function alternateMarker(parent: Node, index: number, family: readonly NodeName[]): boolean {
  let lists = 0
  for (let i = index - 1; i >= 0 && family.includes(parent.child(i).type.name as NodeName); i--) lists++
  return lists % 2 === 1
}
const BULLETS: readonly NodeName[] = ['bullet_list', 'task_list']

const bulletList: NodeSerializer = (state, node, parent, index) => {
  const bullet = alternateMarker(parent, index, BULLETS) ? '* ' : '- '
  state.renderList(node, '  ', () => bullet)
}

function codeFence(text: string): string {
  const longest = Math.max(2, ...(text.match(/`{3,}/g) ?? []).map((run) => run.length))
  return '`'.repeat(longest + 1)
}

const nodes: Record<Exclude<NodeName, 'doc'>, NodeSerializer> = {
  paragraph(state, node) {
    // An empty paragraph would be a blank line, which Markdown does not keep: write nothing.
    if (node.childCount === 0) return
    state.renderInline(node)
    state.closeBlock(node)
  },
  heading(state, node) {
    state.write(`${'#'.repeat(clampLevel(node.attrs.level))} `)
    state.renderInline(node, false)
    state.closeBlock(node)
  },
  blockquote(state, node) {
    state.wrapBlock('> ', null, node, () => state.renderContent(node))
  },
  code_block(state, node) {
    const fence = codeFence(node.textContent)
    state.write(`${fence}\n`)
    state.text(node.textContent, false)
    state.write('\n')
    state.write(fence)
    state.closeBlock(node)
  },
  horizontal_rule(state, node) {
    state.write('---')
    state.closeBlock(node)
  },
  bullet_list: bulletList,
  task_list: bulletList,
  ordered_list(state, node, parent, index) {
    const start: number = node.attrs.order
    const width = String(start + node.childCount - 1).length
    const delimiter = alternateMarker(parent, index, ['ordered_list']) ? ') ' : '. '
    state.renderList(node, ' '.repeat(width + 2), (i) => `${String(start + i).padStart(width)}${delimiter}`)
  },
  list_item(state, node) {
    state.renderContent(node)
  },
  task_item(state, node) {
    state.write(node.attrs.checked ? '[x] ' : '[ ] ')
    state.renderContent(node)
  },
  hard_break(state, node, parent, index) {
    // A heading is one line in Markdown: a break in it becomes a space.
    if (parent.type.name === 'heading') {
      state.write(' ')
      return
    }
    // A break at the end of a block has no Markdown; one before more text is `\` + newline.
    for (let i = index + 1; i < parent.childCount; i++) {
      if (parent.child(i).type !== node.type) {
        state.write('\\\n')
        return
      }
    }
  },
  text(state, node) {
    state.text(node.text ?? '')
  },
}

const href = (mark: Mark): string | null => (isSafeHref(mark.attrs.href) ? mark.attrs.href : null)

const marks: Record<MarkName, ConstructorParameters<typeof MarkdownSerializer>[1][string]> = {
  // A link with an unsafe address (which only another client could have written) is plain text.
  link: {
    open: (_state, mark) => (href(mark) === null ? '' : '['),
    close: (_state, mark) => {
      const target = href(mark)
      if (target === null) return ''
      const destination = target.replace(/[()<>"\\]/g, '\\$&').replace(/\s/g, encodeURIComponent)
      const title: unknown = mark.attrs.title
      return typeof title === 'string' && title !== ''
        ? `](${destination} "${title.replace(/["\\]/g, '\\$&')}")`
        : `](${destination})`
    },
    mixable: true,
  },
  bold: { open: '**', close: '**', mixable: true, expelEnclosingWhitespace: true },
  italic: { open: '*', close: '*', mixable: true, expelEnclosingWhitespace: true },
  underline: { open: '<u>', close: '</u>', mixable: true },
  strike: { open: '~~', close: '~~', mixable: true, expelEnclosingWhitespace: true },
  code: {
    open: (_state, _mark, parent, index) => backticks(parent.child(index), 'open'),
    close: (_state, _mark, parent, index) => backticks(parent.child(index - 1), 'close'),
    escape: false,
  },
}

/**
 * A code span's delimiter: one backtick more than the longest run inside, and a space inside it
 * where Markdown would otherwise read the text differently (a backtick at an end, or a space at
 * both ends, one of which it strips).
 */
function backticks(node: Node, side: 'open' | 'close'): string {
  const text = node.text ?? ''
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length))
  const fence = '`'.repeat(longest + 1)
  if (longest === 0 && !/^ .*[^ ].* $/.test(text)) return fence
  return side === 'open' ? `${fence} ` : ` ${fence}`
}

const serializer = new MarkdownSerializer(nodes, marks, {
  // `<` could open `<u>` or an autolink, `&…;` an entity: text keeps them as typed.
  escapeExtraCharacters: /<|&(?=#?[a-z0-9]+;)/gi,
})

/**
 * The document as Markdown (the dialect described above), ending with a newline unless empty.
 * Stable: serializing what parseMarkdown makes of the result gives the same text again.
 */
export function serializeMarkdown(doc: Node): string {
  const markdown = serializer.serialize(doc, { tightLists: true })
  return markdown === '' ? '' : `${markdown}\n`
}
