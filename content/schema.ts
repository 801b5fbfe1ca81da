import { type DOMOutputSpec, type MarkSpec, type NodeSpec, Schema } from 'prosemirror-model'

const block = 'block'

/**
 * The document model. Node and mark names are the contract with stored documents (y-prosemirror
 * stores them by name in the Y.XmlFragment `prosemirror`), so rename nothing without a migration.
 */
const nodes = {
  doc: { content: 'block+' },
  paragraph: {
    content: 'inline*',
    group: block,
    parseDOM: [{ tag: 'p' }],
    toDOM: (): DOMOutputSpec => ['p', 0],
  },
  heading: {
    attrs: { level: { default: 1, validate: 'number' } },
    content: 'inline*',
    group: block,
    defining: true,
    parseDOM: [1, 2, 3].map((level) => ({ tag: `h${level}`, attrs: { level } })),
    toDOM: (node): DOMOutputSpec => [`h${node.attrs.level}`, 0],
  },
  blockquote: {
    content: 'block+',
    group: block,
    defining: true,
    parseDOM: [{ tag: 'blockquote' }],
    toDOM: (): DOMOutputSpec => ['blockquote', 0],
  },
  code_block: {
    content: 'text*',
    marks: '',
    group: block,
    code: true,
    defining: true,
    parseDOM: [{ tag: 'pre', preserveWhitespace: 'full' }],
    toDOM: (): DOMOutputSpec => ['pre', ['code', 0]],
  },
  horizontal_rule: {
    group: block,
    parseDOM: [{ tag: 'hr' }],
    toDOM: (): DOMOutputSpec => ['hr'],
  },
  bullet_list: {
    content: 'list_item+',
    group: block,
    parseDOM: [{ tag: 'ul:not([data-type=tasks])' }],
    toDOM: (): DOMOutputSpec => ['ul', 0],
  },
  ordered_list: {
    attrs: { order: { default: 1, validate: 'number' } },
    content: 'list_item+',
    group: block,
    parseDOM: [
      {
        tag: 'ol',
        getAttrs: (dom) => ({ order: Number(dom.getAttribute('start') ?? 1) || 1 }),
      },
    ],
    toDOM: (node): DOMOutputSpec =>
      node.attrs.order === 1 ? ['ol', 0] : ['ol', { start: node.attrs.order }, 0],
  },
  list_item: {
    content: 'paragraph block*',
    defining: true,
    parseDOM: [{ tag: 'li:not([data-checked])' }],
    toDOM: (): DOMOutputSpec => ['li', 0],
  },
  task_list: {
    content: 'task_item+',
    group: block,
    parseDOM: [{ tag: 'ul[data-type=tasks]', priority: 51 }],
    toDOM: (): DOMOutputSpec => ['ul', { 'data-type': 'tasks' }, 0],
  },
  task_item: {
    attrs: { checked: { default: false, validate: 'boolean' } },
    content: 'paragraph block*',
    defining: true,
    parseDOM: [
      {
        tag: 'li[data-checked]',
        priority: 51,
        getAttrs: (dom) => ({ checked: dom.getAttribute('data-checked') === 'true' }),
      },
    ],
    // The checkbox itself is drawn by the task item node view (see editor.ts).
    toDOM: (node): DOMOutputSpec => ['li', { 'data-checked': String(node.attrs.checked) }, 0],
  },
  text: { group: 'inline' },
  hard_break: {
    inline: true,
    group: 'inline',
    selectable: false,
    parseDOM: [{ tag: 'br' }],
    toDOM: (): DOMOutputSpec => ['br'],
  },
} satisfies Record<string, NodeSpec>

const marks = {
  link: {
    attrs: { href: { validate: 'string' }, title: { default: null } },
    inclusive: false,
    parseDOM: [
      {
        tag: 'a[href]',
        // An unsafe address is no link at all: the rule does not match and the text stays.
        getAttrs: (dom) => {
          const href = dom.getAttribute('href') ?? ''
          return isSafeHref(href) && { href, title: dom.getAttribute('title') }
        },
      },
    ],
    // A link written into the Y.Doc by some other client is drawn without an unsafe address.
    toDOM: (mark): DOMOutputSpec => [
      'a',
      {
        href: isSafeHref(mark.attrs.href) ? mark.attrs.href : null,
        title: mark.attrs.title,
        rel: 'noopener noreferrer nofollow',
      },
      0,
    ],
  },
  // Marks nest in the order listed here. Underline wraps bold, italic and strike so that in Markdown
  // (content/markdown.ts) their `**`, `*`, `~~` stay next to the text they mark: `x<u>**a**</u>y`
  // reads back, `x**<u>a</u>**y` does not (CommonMark's flanking rules).
  underline: {
    parseDOM: [{ tag: 'u' }, { style: 'text-decoration=underline' }],
    toDOM: (): DOMOutputSpec => ['u', 0],
  },
  bold: {
    parseDOM: [
      { tag: 'strong' },
      { tag: 'b', getAttrs: (dom) => dom.style.fontWeight !== 'normal' && null },
      { style: 'font-weight=400', clearMark: (m) => m.type.name === 'bold' },
      { style: 'font-weight', getAttrs: (v) => /^(bold(er)?|[5-9]\d{2,})$/.test(v) && null },
    ],
    toDOM: (): DOMOutputSpec => ['strong', 0],
  },
  italic: {
    parseDOM: [{ tag: 'i' }, { tag: 'em' }, { style: 'font-style=italic' }],
    toDOM: (): DOMOutputSpec => ['em', 0],
  },
  strike: {
    parseDOM: [{ tag: 's' }, { tag: 'del' }, { style: 'text-decoration=line-through' }],
    toDOM: (): DOMOutputSpec => ['s', 0],
  },
  code: {
    excludes: '_',
    code: true,
    parseDOM: [{ tag: 'code' }],
    toDOM: (): DOMOutputSpec => ['code', 0],
  },
} satisfies Record<string, MarkSpec>

export const schema = new Schema({ nodes, marks })

export type NodeName = keyof typeof nodes
export type MarkName = keyof typeof marks

/** Only links a person would follow; `javascript:` and friends never become a link mark. */
export function isSafeHref(href: string): boolean {
  return /^(https?:|mailto:|\/|#)/i.test(href.trim())
}
