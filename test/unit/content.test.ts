import type { Mark, Node as PMNode } from 'prosemirror-model'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  ContentError,
  docFromJSON,
  docToJSON,
  docToText,
  FRAGMENT,
  isFormat,
  parseContent,
  parseHtml,
  parseMarkdown,
  parseText,
  readDoc,
  serializeContent,
  serializeHtml,
  serializeMarkdown,
  writeDoc,
} from '../../content/convert.js'
import { createNodeDom } from '../../content/dom-node.js'
import { schema } from '../../content/schema.js'

const { nodes: n, marks: m } = schema
const dom = createNodeDom()
afterAll(() => dom.close())

const t = (text: string, ...marks: Mark[]) => schema.text(text, marks)
const p = (...inline: PMNode[]) => n.paragraph.create(null, inline)
const h = (level: number, text: string) => n.heading.create({ level }, t(text))
const li = (...blocks: PMNode[]) => n.list_item.create(null, blocks)
const task = (checked: boolean, text: string) => n.task_item.create({ checked }, p(t(text)))
const doc = (...blocks: PMNode[]) => n.doc.create(null, blocks)
const bold = m.bold.create()
const underline = m.underline.create()

/** Every node and every mark of the schema, each in a place where Markdown can be ambiguous. */
const everything = doc(
  h(1, 'Title'),
  h(2, 'Section'),
  h(3, 'Sub'),
  p(
    t('Plain '),
    t('bold', bold),
    t(' '),
    t('italic', m.italic.create()),
    t(' '),
    t('underline', underline),
    t(' '),
    t('strike', m.strike.create()),
    t(' '),
    t('code', m.code.create()),
    t(' '),
    t('link', m.link.create({ href: 'https://example.com/a', title: 'A "title"' })),
    t(' x'),
    t('both', underline, bold),
    t('y'),
    n.hard_break.create(),
    t('after a break: 1 < 2 & *stars* [brackets] <u>tag</u>'),
  ),
  n.blockquote.create(null, [p(t('Quoted')), n.bullet_list.create(null, li(p(t('in a list'))))]),
  n.code_block.create(null, t('const a = `<u>x</u>`\n**not bold**')),
  n.horizontal_rule.create(),
  n.bullet_list.create(null, [
    li(p(t('one'))),
    li(p(t('two')), n.bullet_list.create(null, li(p(t('nested'))))),
  ]),
  n.ordered_list.create({ order: 3 }, [li(p(t('three'))), li(p(t('four')))]),
  n.task_list.create(null, [task(false, 'open'), task(true, 'done')]),
)

const everythingMarkdown = `# Title

## Section

### Sub

Plain **bold** *italic* <u>underline</u> ~~strike~~ \`code\` [link](https://example.com/a "A \\"title\\"") x<u>**both**</u>y\\
after a break: 1 \\< 2 & \\*stars\\* \\[brackets\\] \\<u>tag\\</u>

> Quoted
>
> - in a list

\`\`\`
const a = \`<u>x</u>\`
**not bold**
\`\`\`

---

- one
- two
  - nested

3. three
4. four

- [ ] open
- [x] done
`

describe('Markdown', () => {
  it('writes every node and mark, and reads the same document back', () => {
    expect(serializeMarkdown(everything)).toBe(everythingMarkdown)
    expect(parseMarkdown(everythingMarkdown).toJSON()).toEqual(everything.toJSON())
  })

  it('is stable: writing what it read gives the same Markdown', () => {
    const once = serializeMarkdown(everything)
    expect(serializeMarkdown(parseMarkdown(once))).toBe(once)
  })

  it('reads GitHub task lists, [x] and [X] checked, and writes them back', () => {
    const parsed = parseMarkdown('- [ ] a\n- [x] b\n- [X] c\n')
    expect(parsed.toJSON()).toEqual(
      doc(n.task_list.create(null, [task(false, 'a'), task(true, 'b'), task(true, 'c')])).toJSON(),
    )
    expect(serializeMarkdown(parsed)).toBe('- [ ] a\n- [x] b\n- [x] c\n')
  })

  it('keeps a list with items that are not tasks, or escaped boxes, a bullet list of text', () => {
    expect(parseMarkdown('- [ ] a\n- b\n').toJSON()).toEqual(
      doc(n.bullet_list.create(null, [li(p(t('[ ] a'))), li(p(t('b')))])).toJSON(),
    )
    expect(parseMarkdown('- \\[ ] a\n').toJSON()).toEqual(
      doc(n.bullet_list.create(null, li(p(t('[ ] a'))))).toJSON(),
    )
    expect(serializeMarkdown(parseMarkdown('- \\[ ] a\n'))).toBe('- \\[ \\] a\n')
  })

  it('reads headings 4 to 6 as level 3, the deepest the schema has', () => {
    expect(parseMarkdown('#### four\n\n##### five\n\n###### six\n').toJSON()).toEqual(
      doc(h(3, 'four'), h(3, 'five'), h(3, 'six')).toJSON(),
    )
  })

  it('reads <u>…</u> as underline and any other HTML as text', () => {
    expect(parseMarkdown('a <u>b *c*</u> <b>d</b> <script>x</script>\n').toJSON()).toEqual(
      doc(
        p(
          t('a '),
          t('b ', underline),
          t('c', underline, m.italic.create()),
          t(' <b>d</b> <script>x</script>'),
        ),
      ).toJSON(),
    )
    expect(parseMarkdown('<u>not closed\n').toJSON()).toEqual(doc(p(t('<u>not closed'))).toJSON())
  })

  it('makes links of safe addresses only; others stay the text that was written', () => {
    expect(
      parseMarkdown('[a](javascript:alert(1)) [b](data:text/html,x) <ftp://c> [d](/d)\n').toJSON(),
    ).toEqual(
      doc(
        p(
          t('[a](javascript:alert(1)) [b](data:text/html,x) <ftp://c> '),
          t('d', m.link.create({ href: '/d' })),
        ),
      ).toJSON(),
    )
    // A link only another client could have written is written as its text.
    expect(serializeMarkdown(doc(p(t('x', m.link.create({ href: 'javascript:alert(1)' })))))).toBe('x\n')
  })

  it('reads an image as its alt text', () => {
    expect(parseMarkdown('![a *b*](https://example.com/i.png)\n').toJSON()).toEqual(
      doc(p(t('a '), t('b', m.italic.create()))).toJSON(),
    )
  })

  it('keeps lists that follow each other apart with alternating markers', () => {
    const lists = doc(
      n.bullet_list.create(null, li(p(t('a')))),
      n.task_list.create(null, task(false, 'b')),
      n.bullet_list.create(null, li(p(t('c')))),
      n.ordered_list.create(null, li(p(t('d')))),
      n.ordered_list.create(null, li(p(t('e')))),
    )
    const markdown = serializeMarkdown(lists)
    expect(markdown).toBe('- a\n\n* [ ] b\n\n- c\n\n1. d\n\n\n1) e\n')
    expect(parseMarkdown(markdown).toJSON()).toEqual(lists.toJSON())
  })

  it.each([
    [
      'a break in a heading, as a space',
      doc(n.heading.create({ level: 2 }, [t('a'), n.hard_break.create(), t('b')])),
      '## a b\n',
    ],
    ['empty paragraphs, as nothing', doc(p(), p(t('a')), p(), p(), p(t('b'))), 'a\n\nb\n'],
    ['code with a space at both ends', doc(p(t(' a ', m.code.create()))), '`  a  `\n'],
    ['code with backticks', doc(p(t('`a``', m.code.create()))), '``` `a`` ```\n'],
  ])('writes %s, stably', (_, written, markdown) => {
    expect(serializeMarkdown(written)).toBe(markdown)
    expect(serializeMarkdown(parseMarkdown(markdown))).toBe(markdown)
  })

  it('reads code spans back exactly', () => {
    expect(parseMarkdown('`  a  ` ``` `a`` ```\n').toJSON()).toEqual(
      doc(p(t(' a ', m.code.create()), t(' '), t('`a``', m.code.create()))).toJSON(),
    )
  })

  it('writes an empty document as nothing and reads nothing as one empty paragraph', () => {
    expect(serializeMarkdown(doc(p()))).toBe('')
    expect(parseMarkdown('').toJSON()).toEqual(doc(p()).toJSON())
  })
})

describe('HTML', () => {
  it('keeps only what the schema allows from hostile HTML', () => {
    const hostile =
      '<img src=x onerror=alert(1)><script>alert(1)</script><a href="javascript:alert(1)">x</a>' +
      '<p onclick="x">hi</p><iframe>'
    expect(docToJSON(parseHtml(hostile, dom))).toEqual({
      type: 'doc',
      content: [
        { type: 'paragraph', content: [{ type: 'text', text: 'x' }] },
        { type: 'paragraph', content: [{ type: 'text', text: 'hi' }] },
      ],
    })
  })

  it('drops styles, classes, frames, templates and unsafe links but keeps their text where it is content', () => {
    const html =
      '<h1 style="color:red" class="big" id="t">T</h1><p>a <A HREF=" JavaScript:alert(1)">b</A> ' +
      '<a href="vbscript:x">c</a> <a href="https://ok.example" onclick="x" target="_blank">d</a></p>' +
      '<iframe>frame text</iframe><template><p>hidden</p></template><style>p{}</style>' +
      '<svg><text>drawn</text></svg><h5>deep</h5>'
    expect(docToJSON(parseHtml(html, dom))).toEqual({
      type: 'doc',
      content: [
        { type: 'heading', attrs: { level: 1 }, content: [{ type: 'text', text: 'T' }] },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'a b c ' },
            {
              type: 'text',
              marks: [{ type: 'link', attrs: { href: 'https://ok.example', title: null } }],
              text: 'd',
            },
          ],
        },
        { type: 'paragraph', content: [{ type: 'text', text: 'deep' }] },
      ],
    })
  })

  it('writes only the schema’s tags and attributes, and reads the same document back', () => {
    const html = serializeHtml(everything, dom)
    expect(html).toBe(
      '<h1>Title</h1><h2>Section</h2><h3>Sub</h3>' +
        '<p>Plain <strong>bold</strong> <em>italic</em> <u>underline</u> <s>strike</s> <code>code</code> ' +
        '<a href="https://example.com/a" title="A &quot;title&quot;" rel="noopener noreferrer nofollow">link</a>' +
        ' x<u><strong>both</strong></u>y<br>after a break: 1 &lt; 2 &amp; *stars* [brackets] &lt;u&gt;tag&lt;/u&gt;</p>' +
        '<blockquote><p>Quoted</p><ul><li><p>in a list</p></li></ul></blockquote>' +
        '<pre><code>const a = `&lt;u&gt;x&lt;/u&gt;`\n**not bold**</code></pre><hr>' +
        '<ul><li><p>one</p></li><li><p>two</p><ul><li><p>nested</p></li></ul></li></ul>' +
        '<ol start="3"><li><p>three</p></li><li><p>four</p></li></ol>' +
        '<ul data-type="tasks"><li data-checked="false"><p>open</p></li><li data-checked="true"><p>done</p></li></ul>',
    )
    expect(parseHtml(html, dom).toJSON()).toEqual(everything.toJSON())
  })

  it('writes a link only another client could have written without its address', () => {
    expect(serializeHtml(doc(p(t('x', m.link.create({ href: 'javascript:alert(1)' })))), dom)).toBe(
      '<p><a rel="noopener noreferrer nofollow">x</a></p>',
    )
  })
})

describe('text', () => {
  it('writes each block’s text with a blank line between blocks and a break as a newline', () => {
    expect(docToText(everything)).toBe(`Title

Section

Sub

Plain bold italic underline strike code link xbothy
after a break: 1 < 2 & *stars* [brackets] <u>tag</u>

Quoted

in a list

const a = \`<u>x</u>\`
**not bold**

one

two

nested

three

four

open

done
`)
    expect(docToText(doc(p(), p(t('a')), p()))).toBe('a\n')
    expect(docToText(doc(p()))).toBe('')
  })

  it('reads paragraphs between blank lines, other line breaks as hard breaks, any line ending', () => {
    const parsed = parseText('\r\none\r\ntwo\r\n \r\n\r\nthree\n\n')
    expect(parsed.toJSON()).toEqual(doc(p(t('one'), n.hard_break.create(), t('two')), p(t('three'))).toJSON())
    expect(docToText(parsed)).toBe('one\ntwo\n\nthree\n')
    expect(parseText('').toJSON()).toEqual(doc(p()).toJSON())
  })
})

describe('JSON', () => {
  it('reads back what it writes', () => {
    expect(docFromJSON(JSON.parse(JSON.stringify(docToJSON(everything)))).eq(everything)).toBe(true)
  })

  it.each([
    [null, 'invalid document JSON: Invalid input for Node.fromJSON'],
    [{ type: 'doc', content: [{ type: 'image' }] }, 'invalid document JSON: Unknown node type: image'],
    [{ type: 'doc', content: [] }, 'invalid document JSON: Invalid content for node doc: <>'],
    [
      { type: 'doc', content: [{ type: 'text', text: 'loose' }] },
      'invalid document JSON: Invalid content for node doc: <"loose">',
    ],
    [
      {
        type: 'doc',
        content: [{ type: 'code_block', content: [{ type: 'text', text: 'x', marks: [{ type: 'bold' }] }] }],
      },
      'invalid document JSON: Invalid content for node code_block: <bold("x")>',
    ],
    [
      { type: 'doc', content: [{ type: 'heading', attrs: { level: '2' } }] },
      'invalid document JSON: Expected value of type number for attribute level on type heading, got string',
    ],
    [
      {
        type: 'doc',
        content: [{ type: 'paragraph', content: [{ type: 'text', text: 'x', marks: [{ type: 'link' }] }] }],
      },
      'invalid document JSON: Expected value of type string for attribute href on type link, got null',
    ],
    [{ type: 'paragraph' }, 'invalid document JSON: the top node must be "doc", got "paragraph"'],
    [
      { type: 'doc', content: [{ type: 'heading', attrs: { level: 4 } }] },
      'heading level must be 1, 2 or 3, got 4',
    ],
    [
      {
        type: 'doc',
        content: [
          {
            type: 'ordered_list',
            attrs: { order: 1.5 },
            content: [{ type: 'list_item', content: [{ type: 'paragraph' }] }],
          },
        ],
      },
      'ordered_list order must be a whole number ≥ 0, got 1.5',
    ],
    [
      {
        type: 'doc',
        content: [
          {
            type: 'paragraph',
            content: [
              { type: 'text', text: 'x', marks: [{ type: 'link', attrs: { href: 'javascript:alert(1)' } }] },
            ],
          },
        ],
      },
      'link href must be http(s), mailto, relative (/…) or #…, got "javascript:alert(1)"',
    ],
  ])('refuses %j: %s', (json, message) => {
    const error = catchError(() => docFromJSON(json))
    expect(error).toBeInstanceOf(ContentError)
    expect(error).toMatchObject({ name: 'ContentError', code: 'TANDEM_ERR_CONTENT_INVALID', message })
  })

  it('refuses a body that is not JSON at all', () => {
    const error = catchError(() => parseContent('{"type":', 'json', dom))
    expect(error).toMatchObject({ code: 'TANDEM_ERR_CONTENT_INVALID' })
    expect((error as Error).message).toMatch(/^invalid document JSON: /)
  })
})

describe('parseContent and serializeContent', () => {
  it.each(['json', 'html', 'markdown', 'text'] as const)('%s: reads what it writes', (format) => {
    const written = serializeContent(everything, format, dom)
    expect(serializeContent(parseContent(written, format, dom), format, dom)).toBe(written)
  })

  it('names the formats', () => {
    expect(['json', 'html', 'markdown', 'text', 'pdf', 'toString', 1].map(isFormat)).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ])
  })
})

describe('readDoc and writeDoc', () => {
  it('reads an empty document as one empty paragraph', () => {
    expect(readDoc(new Y.Doc()).toJSON()).toEqual(doc(p()).toJSON())
  })

  it('writes in one update, with the origin given, that another replica applies to reach the same content', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const updates: { update: Uint8Array; origin: unknown }[] = []
    a.on('update', (update: Uint8Array, origin: unknown) => updates.push({ update, origin }))
    writeDoc(a, everything, 'import')
    expect(updates.map((u) => u.origin)).toEqual(['import'])
    Y.applyUpdate(b, updates[0]!.update)
    expect(readDoc(a).toJSON()).toEqual(everything.toJSON())
    expect(readDoc(b).toJSON()).toEqual(everything.toJSON())
  })

  it('changes only what differs: the same content again is no update at all', () => {
    const a = new Y.Doc()
    writeDoc(a, everything)
    let updates = 0
    a.on('update', () => updates++)
    writeDoc(a, parseMarkdown(everythingMarkdown))
    expect(updates).toBe(0)
  })

  it('keeps an edit made concurrently in another paragraph', () => {
    // Both replicas hold three paragraphs; B types in the third while A rewrites the first.
    const a = new Y.Doc()
    const b = new Y.Doc()
    writeDoc(a, doc(p(t('one')), p(t('two')), p(t('three'))))
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    const third = b.getXmlFragment(FRAGMENT).get(2) as Y.XmlElement
    ;(third.get(0) as Y.XmlText).insert(5, ' and more')
    writeDoc(a, doc(p(t('ONE, rewritten')), p(t('two')), p(t('three'))))
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
    const expected = doc(p(t('ONE, rewritten')), p(t('two')), p(t('three and more'))).toJSON()
    expect(readDoc(a).toJSON()).toEqual(expected)
    expect(readDoc(b).toJSON()).toEqual(expected)
  })

  it('reads without changing the document, even a node the schema lacks', () => {
    const a = new Y.Doc()
    writeDoc(a, doc(p(t('kept'))))
    a.getXmlFragment(FRAGMENT).insert(0, [new Y.XmlElement('video')])
    const before = Y.encodeStateAsUpdate(a)
    expect(readDoc(a).toJSON()).toEqual(doc(p(t('kept'))).toJSON())
    expect(Y.encodeStateAsUpdate(a)).toEqual(before)
    expect(a.getXmlFragment(FRAGMENT).length).toBe(2)
  })
})

function catchError(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}
