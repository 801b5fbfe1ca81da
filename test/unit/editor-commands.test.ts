import type { Node as PMNode } from 'prosemirror-model'
import { type Command, EditorState, TextSelection } from 'prosemirror-state'
import { describe, expect, it } from 'vitest'
import { isSafeHref, schema } from '../../content/schema.js'
import {
  activeBlock,
  activeList,
  insertHorizontalRule,
  isMarkActive,
  liftItem,
  setLink,
  sinkItem,
  toggleBlockquote,
  toggleBold,
  toggleBulletList,
  toggleCodeBlock,
  toggleHeading,
  toggleOrderedList,
  toggleTask,
  toggleTaskList,
} from '../../editor/commands.js'

const { nodes: n, marks: m } = schema
const p = (...text: string[]) =>
  n.paragraph.create(
    null,
    text.map((t) => schema.text(t)),
  )
const li = (...content: PMNode[]) => n.list_item.create(null, content)
const doc = (...blocks: PMNode[]) => n.doc.create(null, blocks)

/** A state on `d` with the text selection `from`..`to`. */
function state(d: PMNode, from: number, to = from): EditorState {
  return EditorState.create({ doc: d, selection: TextSelection.create(d, from, to) })
}

/** Runs `command` and returns the new state; fails the test if it does not apply. */
function run(s: EditorState, command: Command): EditorState {
  let next: EditorState | null = null
  const applied = command(s, (tr) => {
    next = s.apply(tr)
  })
  expect(applied).toBe(true)
  if (!next) throw new Error('command applied without dispatching')
  return next
}

describe('schema', () => {
  it('builds every block the editor offers, and checks content', () => {
    const full = doc(
      n.heading.create({ level: 2 }, schema.text('Title')),
      n.blockquote.create(null, p('quoted')),
      n.code_block.create(null, schema.text('let x = 1')),
      n.horizontal_rule.create(),
      n.bullet_list.create(null, li(p('one'), n.ordered_list.create(null, li(p('nested'))))),
      n.task_list.create(null, n.task_item.create({ checked: true }, p('done'))),
      n.paragraph.create(null, [schema.text('a'), n.hard_break.create(), schema.text('b')]),
    )
    expect(() => full.check()).not.toThrow()
    expect(() => n.bullet_list.create(null, p('not an item')).check()).toThrow()
    expect(() => n.code_block.create(null, schema.text('x', [m.bold.create()])).check()).toThrow()
  })

  it('keeps other marks off inline code', () => {
    const code = m.code.create()
    expect(m.bold.create().addToSet([code])).toEqual([code])
  })

  it.each([
    ['https://example.com', true],
    ['mailto:a@example.com', true],
    ['/d/notes', true],
    ['javascript:alert(1)', false],
    ['  JavaScript:alert(1)', false],
    ['data:text/html,hi', false],
  ])('isSafeHref(%j) is %s', (href, safe) => {
    expect(isSafeHref(href)).toBe(safe)
  })
})

describe('commands', () => {
  it('toggles bold on a selection and reports it active', () => {
    const s = run(state(doc(p('hello world')), 1, 6), toggleBold)
    expect(isMarkActive(s, m.bold)).toBe(true)
    expect(s.doc.firstChild?.firstChild?.marks.map((x) => x.type.name)).toEqual(['bold'])
    expect(isMarkActive(run(s, toggleBold), m.bold)).toBe(false)
  })

  it('makes a heading and back a paragraph', () => {
    const h = run(state(doc(p('Title')), 2), toggleHeading(2))
    expect(activeBlock(h)).toEqual({ type: n.heading, attrs: { level: 2 } })
    expect(activeBlock(run(h, toggleHeading(2))).type).toBe(n.paragraph)
  })

  it('toggles code blocks and blockquotes', () => {
    const code = run(state(doc(p('x = 1')), 2), toggleCodeBlock)
    expect(code.doc.firstChild?.type).toBe(n.code_block)
    expect(run(code, toggleCodeBlock).doc.firstChild?.type).toBe(n.paragraph)
    const quoted = run(state(doc(p('wise')), 2), toggleBlockquote)
    expect(quoted.doc.firstChild?.type).toBe(n.blockquote)
    expect(run(quoted, toggleBlockquote).doc.firstChild?.type).toBe(n.paragraph)
  })

  it('converts a list between bullet, numbered and task, keeping text and selection', () => {
    const bullets = run(state(doc(p('one'), p('two')), 2, 8), toggleBulletList)
    expect(bullets.doc.toString()).toBe(
      'doc(bullet_list(list_item(paragraph("one")), list_item(paragraph("two"))))',
    )
    const numbered = run(bullets, toggleOrderedList)
    expect(activeList(numbered)).toBe(n.ordered_list)
    const tasks = run(numbered, toggleTaskList)
    expect(tasks.doc.toString()).toBe(
      'doc(task_list(task_item(paragraph("one")), task_item(paragraph("two"))))',
    )
    expect([tasks.selection.from, tasks.selection.to]).toEqual([
      numbered.selection.from,
      numbered.selection.to,
    ])
    expect(run(tasks, toggleBulletList).doc.toString()).toBe(bullets.doc.toString())
    // Toggling the active kind lifts the items out of the list.
    expect(run(bullets, toggleBulletList).doc.toString()).toBe('doc(paragraph("one"), paragraph("two"))')
  })

  it('nests with Tab and un-nests with Shift-Tab', () => {
    const list = doc(n.bullet_list.create(null, [li(p('one')), li(p('two'))]))
    const nested = run(state(list, 10), sinkItem)
    expect(nested.doc.toString()).toBe(
      'doc(bullet_list(list_item(paragraph("one"), bullet_list(list_item(paragraph("two"))))))',
    )
    expect(run(nested, liftItem).doc.toString()).toBe(list.toString())
    // The first item has nothing to nest under.
    expect(sinkItem(state(list, 3))).toBe(false)
  })

  it('checks and unchecks a task', () => {
    const tasks = doc(n.task_list.create(null, n.task_item.create(null, p('ship it'))))
    const checked = run(state(tasks, 3), toggleTask(1))
    expect(checked.doc.nodeAt(1)?.attrs.checked).toBe(true)
    expect(run(checked, toggleTask(1)).doc.nodeAt(1)?.attrs.checked).toBe(false)
    expect(toggleTask(0)(state(tasks, 3))).toBe(false)
  })

  it('links a selection to safe addresses only, and unlinks', () => {
    const s = state(doc(p('click here')), 1, 6)
    expect(setLink('javascript:alert(1)')(s)).toBe(false)
    const linked = run(s, setLink('https://example.com'))
    expect(linked.doc.firstChild?.firstChild?.marks[0]?.attrs.href).toBe('https://example.com')
    expect(isMarkActive(linked, m.link)).toBe(true)
    expect(isMarkActive(run(linked, setLink(null)), m.link)).toBe(false)
    expect(setLink('https://example.com')(state(doc(p('x')), 1))).toBe(false)
  })

  it('inserts a horizontal rule', () => {
    const s = run(state(doc(p('above')), 6), insertHorizontalRule)
    expect(s.doc.toString()).toContain('horizontal_rule')
  })
})
