import type { Node as PMNode } from 'prosemirror-model'
import { EditorState, type Plugin, TextSelection } from 'prosemirror-state'
import type { EditorView } from 'prosemirror-view'
import { describe, expect, it } from 'vitest'
import { schema } from '../../content/schema.js'
import { markdownInputRules } from '../../editor/inputrules.js'

const rules = markdownInputRules()

/**
 * Types `text` character by character into an empty document the way the browser does: each
 * character goes to the input rules plugin first and is inserted only if no rule handled it.
 */
function typeInto(text: string, start: PMNode = schema.node('doc', null, [schema.node('paragraph')])) {
  let state = EditorState.create({ doc: start, plugins: [rules], selection: TextSelection.atEnd(start) })
  // The input rules plugin needs only these members of a view.
  const view = {
    get state() {
      return state
    },
    composing: false,
    dispatch(tr: EditorState['tr']) {
      state = state.apply(tr)
    },
  } as unknown as EditorView
  const handleTextInput = (rules as Plugin).props.handleTextInput
  for (const char of text) {
    const { from, to } = state.selection
    const handled = handleTextInput?.call(rules, view, from, to, char, () => state.tr)
    if (!handled) state = state.apply(state.tr.insertText(char, from, to))
  }
  return state
}

describe('markdown input rules', () => {
  it.each([
    ['# Title', 'doc(heading("Title"))', { level: 1 }],
    ['### Small', 'doc(heading("Small"))', { level: 3 }],
  ])('%j makes a heading', (typed, expected, attrs) => {
    const { doc } = typeInto(typed)
    expect(doc.toString()).toBe(expected)
    expect(doc.firstChild?.attrs).toEqual(attrs)
  })

  it.each([
    ['- item', 'doc(bullet_list(list_item(paragraph("item"))))'],
    ['* item', 'doc(bullet_list(list_item(paragraph("item"))))'],
    ['1. first', 'doc(ordered_list(list_item(paragraph("first"))))'],
    ['> quote', 'doc(blockquote(paragraph("quote")))'],
    ['```', 'doc(code_block)'],
    ['[ ] todo', 'doc(task_list(task_item(paragraph("todo"))))'],
  ])('%j wraps or turns the block', (typed, expected) => {
    expect(typeInto(typed).doc.toString()).toBe(expected)
  })

  it('[x] makes a checked task', () => {
    expect(typeInto('[x] done').doc.firstChild?.firstChild?.attrs.checked).toBe(true)
  })

  it('--- makes a divider and a paragraph to go on in', () => {
    const state = typeInto('---')
    expect(state.doc.toString()).toBe('doc(horizontal_rule, paragraph)')
    expect(state.selection.$from.parent.type.name).toBe('paragraph')
  })

  it.each([
    ['**bold**', 'bold'],
    ['__bold__', 'bold'],
    ['*slanted*', 'italic'],
    ['_slanted_', 'italic'],
    ['~~gone~~', 'strike'],
    ['`code`', 'code'],
  ])('%j marks the text and drops the delimiters', (typed, mark) => {
    const state = typeInto(`say ${typed} now`)
    const paragraph = state.doc.firstChild
    expect(paragraph?.textContent).toBe(`say ${typed.replace(/[*_~`]/g, '')} now`)
    const marked: string[] = []
    paragraph?.forEach((child) => {
      if (child.marks.some((x) => x.type.name === mark)) marked.push(child.text ?? '')
    })
    expect(marked).toEqual([typed.replace(/[*_~`]/g, '')])
  })

  it('leaves a lone asterisk and snake_case words alone', () => {
    expect(typeInto('2 * 3 = 6').doc.textContent).toBe('2 * 3 = 6')
    expect(typeInto('snake_case_name').doc.firstChild?.firstChild?.marks).toEqual([])
  })

  it('does not apply rules inside a code block', () => {
    const start = schema.node('doc', null, [schema.node('code_block')])
    expect(typeInto('**not bold**', start).doc.toString()).toBe('doc(code_block("**not bold**"))')
  })
})
