import { lift, setBlockType, toggleMark, wrapIn } from 'prosemirror-commands'
import type { Attrs, MarkType, NodeType, Node as PMNode } from 'prosemirror-model'
import { liftListItem, sinkListItem, splitListItem, wrapInList } from 'prosemirror-schema-list'
import { type Command, type EditorState, TextSelection } from 'prosemirror-state'
import { isSafeHref, schema } from '../content/schema.js'

const { nodes, marks } = schema

/** Whether the mark is on the whole selection (or in the stored marks at an empty cursor). */
export function isMarkActive(state: EditorState, type: MarkType): boolean {
  const { from, $from, to, empty } = state.selection
  if (empty) return type.isInSet(state.storedMarks ?? $from.marks()) !== undefined
  return state.doc.rangeHasMark(from, to, type)
}

/** The innermost textblock of the selection's start, e.g. a heading level 2 or a code block. */
export function activeBlock(state: EditorState): { readonly type: NodeType; readonly attrs: Attrs } {
  const parent = state.selection.$from.parent
  return { type: parent.type, attrs: parent.attrs }
}

/** The innermost list (bullet, ordered or task) around the selection, if any. */
export function activeList(state: EditorState): NodeType | null {
  const { $from } = state.selection
  for (let depth = $from.depth; depth > 0; depth--) {
    const type = $from.node(depth).type
    if (type === nodes.bullet_list || type === nodes.ordered_list || type === nodes.task_list) return type
  }
  return null
}

/** Whether the selection sits inside a node of this type (e.g. a blockquote). */
export function isInside(state: EditorState, type: NodeType): boolean {
  const { $from } = state.selection
  for (let depth = $from.depth; depth > 0; depth--) if ($from.node(depth).type === type) return true
  return false
}

export const toggleBold = toggleMark(marks.bold)
export const toggleItalic = toggleMark(marks.italic)
export const toggleUnderline = toggleMark(marks.underline)
export const toggleStrike = toggleMark(marks.strike)
export const toggleCode = toggleMark(marks.code)

export const setParagraph = setBlockType(nodes.paragraph)
export const setCodeBlock = setBlockType(nodes.code_block)
export function setHeading(level: 1 | 2 | 3): Command {
  return setBlockType(nodes.heading, { level })
}

/** Heading of that level, or back to a paragraph when the block already is one. */
export function toggleHeading(level: 1 | 2 | 3): Command {
  return (state, dispatch) => {
    const block = activeBlock(state)
    if (block.type === nodes.heading && block.attrs.level === level) return setParagraph(state, dispatch)
    return setHeading(level)(state, dispatch)
  }
}

/** Code block, or back to a paragraph when the block already is one. */
export const toggleCodeBlock: Command = (state, dispatch) =>
  activeBlock(state).type === nodes.code_block ? setParagraph(state, dispatch) : setCodeBlock(state, dispatch)

/** Wraps the selection in a blockquote, or lifts it out of the one it is in. */
export const toggleBlockquote: Command = (state, dispatch) =>
  isInside(state, nodes.blockquote) ? lift(state, dispatch) : wrapIn(nodes.blockquote)(state, dispatch)

const itemOf = (list: NodeType): NodeType => (list === nodes.task_list ? nodes.task_item : nodes.list_item)

/**
 * Turns the selected blocks into a list of this type; in a list of this type, lifts them out of it;
 * in another kind of list, converts that list in place (keeping nesting, content and selection).
 */
export function toggleList(list: NodeType): Command {
  return (state, dispatch) => {
    const { $from, from, to } = state.selection
    const current = activeList(state)
    if (current === list) return liftListItem(itemOf(list))(state, dispatch)
    if (current === null) return wrapInList(list)(state, dispatch)
    let depth = $from.depth
    while ($from.node(depth).type !== current) depth--
    if (!dispatch) return true
    const pos = $from.before(depth)
    const old = $from.node(depth)
    const tr = state.tr
    if (itemOf(current) === itemOf(list)) {
      tr.setNodeMarkup(pos, list)
    } else {
      // Bullet/ordered ⇄ task changes the item type too; the new list has the same shape, so the
      // old selection positions stay valid.
      const items: PMNode[] = []
      old.forEach((item) => {
        items.push(itemOf(list).create(null, item.content))
      })
      tr.replaceWith(pos, pos + old.nodeSize, list.create(null, items))
      tr.setSelection(TextSelection.create(tr.doc, from, to))
    }
    dispatch(tr.scrollIntoView())
    return true
  }
}

export const toggleBulletList = toggleList(nodes.bullet_list)
export const toggleOrderedList = toggleList(nodes.ordered_list)
export const toggleTaskList = toggleList(nodes.task_list)

/** Enter in a list: a new item (an empty one ends the list). */
export const splitItem: Command = (state, dispatch) =>
  splitListItem(nodes.list_item)(state, dispatch) ||
  splitListItem(nodes.task_item, { checked: false })(state, dispatch)

/** Tab in a list: nest the item under the one above. */
export const sinkItem: Command = (state, dispatch) =>
  sinkListItem(nodes.list_item)(state, dispatch) || sinkListItem(nodes.task_item)(state, dispatch)

/** Shift-Tab in a list: move the item one level out. */
export const liftItem: Command = (state, dispatch) =>
  liftListItem(nodes.list_item)(state, dispatch) || liftListItem(nodes.task_item)(state, dispatch)

export const insertHardBreak: Command = (state, dispatch) => {
  if (dispatch) dispatch(state.tr.replaceSelectionWith(nodes.hard_break.create()).scrollIntoView())
  return true
}

export const insertHorizontalRule: Command = (state, dispatch) => {
  const { $from } = state.selection
  const index = $from.index($from.depth - 1)
  if (!$from.node($from.depth - 1).canReplaceWith(index, index, nodes.horizontal_rule)) return false
  if (dispatch) dispatch(state.tr.replaceSelectionWith(nodes.horizontal_rule.create()).scrollIntoView())
  return true
}

/**
 * Links the selected text to `href`, or removes links from the selection when `href` is null.
 * Refuses (returns false) an empty selection or an unsafe scheme such as `javascript:`.
 */
export function setLink(href: string | null): Command {
  return (state, dispatch) => {
    const { from, to, empty } = state.selection
    if (empty) return false
    if (href === null) {
      if (dispatch) dispatch(state.tr.removeMark(from, to, marks.link))
      return true
    }
    if (!isSafeHref(href)) return false
    if (dispatch) dispatch(state.tr.addMark(from, to, marks.link.create({ href: href.trim() })))
    return true
  }
}

/** Checks or unchecks the task item at `pos` (the position before the item node). */
export function toggleTask(pos: number): Command {
  return (state, dispatch) => {
    const node = state.doc.nodeAt(pos)
    if (node?.type !== nodes.task_item) return false
    if (dispatch) dispatch(state.tr.setNodeAttribute(pos, 'checked', !node.attrs.checked))
    return true
  }
}
