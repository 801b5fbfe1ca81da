import {
  ellipsis,
  InputRule,
  inputRules,
  textblockTypeInputRule,
  wrappingInputRule,
} from 'prosemirror-inputrules'
import type { MarkType } from 'prosemirror-model'
import { type Plugin, TextSelection } from 'prosemirror-state'
import { findWrapping } from 'prosemirror-transform'
import { schema } from '../content/schema.js'

const { nodes, marks } = schema

/**
 * `**text**` → bold text, and the like: the delimiters go, the mark stays on the text, and typing
 * after it is unmarked. `pattern` must match from the opening delimiter to the end, with the text
 * in group 1.
 */
function markRule(pattern: RegExp, type: MarkType): InputRule {
  return new InputRule(pattern, (state, match, start, end) => {
    const text = match[1]
    if (!text) return null
    const $start = state.doc.resolve(start)
    if (!$start.parent.type.allowsMarkType(type)) return null
    const marked = schema.text(text, type.create().addToSet($start.marks()))
    return state.tr.replaceWith(start, end, marked).removeStoredMark(type)
  })
}

/** `[ ] ` or `[x] ` at the start of a block: a task list item, checked or not. */
const taskRule = new InputRule(/^\s*\[([ xX]?)\]\s$/, (state, match, start, end) => {
  const tr = state.tr.delete(start, end)
  const range = tr.doc.resolve(start).blockRange()
  const wrapping = range && findWrapping(range, nodes.task_list)
  if (!range || !wrapping) return null
  const checked = match[1]?.toLowerCase() === 'x'
  return tr.wrap(
    range,
    wrapping.map((w) => (w.type === nodes.task_item ? { type: w.type, attrs: { checked } } : w)),
  )
})

/** Markdown-style shortcuts typed at the start of a block or around a word. */
export const markdownRules: readonly InputRule[] = [
  textblockTypeInputRule(/^(#{1,3})\s$/, nodes.heading, (match) => ({ level: match[1]?.length ?? 1 })),
  wrappingInputRule(/^\s*>\s$/, nodes.blockquote),
  taskRule,
  wrappingInputRule(/^\s*([-+*])\s$/, nodes.bullet_list),
  wrappingInputRule(
    /^(\d+)\.\s$/,
    nodes.ordered_list,
    (match) => ({ order: Number(match[1]) }),
    (match, node) => node.childCount + node.attrs.order === Number(match[1]),
  ),
  textblockTypeInputRule(/^```$/, nodes.code_block),
  new InputRule(/^(?:---|\*\*\*|___)$/, (state, _match, start, end) => {
    const $start = state.doc.resolve(start)
    // Only a paragraph that holds nothing but the dashes becomes a rule.
    if ($start.parent.type !== nodes.paragraph || $start.parent.content.size !== end - start) return null
    const before = $start.before()
    const tr = state.tr.replaceWith(before, $start.after(), [
      nodes.horizontal_rule.create(),
      nodes.paragraph.create(),
    ])
    return tr.setSelection(TextSelection.create(tr.doc, before + 2))
  }),
  markRule(/\*\*([^*\s](?:[^*]*[^*\s])?)\*\*$/, marks.bold),
  markRule(/__([^_\s](?:[^_]*[^_\s])?)__$/, marks.bold),
  markRule(/(?<![*\w])\*([^*\s](?:[^*]*[^*\s])?)\*$/, marks.italic),
  markRule(/(?<![_\w])_([^_\s](?:[^_]*[^_\s])?)_$/, marks.italic),
  markRule(/~~([^~\s](?:[^~]*[^~\s])?)~~$/, marks.strike),
  markRule(/(?<!`)`([^`]+)`$/, marks.code),
  ellipsis,
]

export function markdownInputRules(): Plugin {
  return inputRules({ rules: [...markdownRules] })
}
