import { dropCursor } from 'prosemirror-dropcursor'
import { gapCursor } from 'prosemirror-gapcursor'
import type { Node as PMNode } from 'prosemirror-model'
import { EditorState, Plugin } from 'prosemirror-state'
import { EditorView, type NodeView } from 'prosemirror-view'
import { yCursorPlugin, ySyncPlugin, yUndoPlugin } from 'y-prosemirror'
import type { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import { schema } from '../content/schema.js'
import { toggleTask } from './commands.js'
import { markdownInputRules } from './inputrules.js'
import { editorKeymaps } from './keymap.js'

/** The awareness field y-prosemirror reads names and colours from. */
export interface AwarenessUser {
  readonly name?: unknown
  readonly color?: unknown
}

/** A remote cursor: a coloured caret with the person's name, findable by client ID. */
export function buildCursor(user: AwarenessUser, clientId: number): HTMLElement {
  const color = typeof user.color === 'string' && /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#7d6b5d'
  const name = typeof user.name === 'string' && user.name.trim() !== '' ? user.name : `User ${clientId}`
  const cursor = document.createElement('span')
  cursor.className = 'ProseMirror-yjs-cursor tandem-cursor'
  cursor.dataset.client = String(clientId)
  cursor.style.borderColor = color
  const label = document.createElement('span')
  label.className = 'tandem-cursor-label'
  label.style.backgroundColor = color
  label.textContent = name
  // Word joiners keep the caret from breaking lines around it (as y-prosemirror's default does).
  cursor.append('\u2060', label, '\u2060')
  return cursor
}

/** Every plugin of a collaborative editor bound to `fragment`, in the order they must run. */
export function collaborativePlugins(fragment: Y.XmlFragment, awareness: Awareness): Plugin[] {
  return [
    ySyncPlugin(fragment),
    yCursorPlugin(awareness, { cursorBuilder: buildCursor }),
    yUndoPlugin(),
    markdownInputRules(),
    ...editorKeymaps(),
    dropCursor({ color: 'var(--tandem-accent, #0090ff)' }),
    gapCursor(),
    openLinksOnModClick,
  ]
}

/** A click in the text places the cursor, as in any editor; Ctrl/⌘-click (or any click when read-only) follows a link. */
const openLinksOnModClick = new Plugin({
  props: {
    handleClick(view, _pos, event) {
      const link = (event.target as HTMLElement | null)?.closest?.('a[href]')
      if (!link || !view.dom.contains(link) || (view.editable && !event.ctrlKey && !event.metaKey))
        return false
      globalThis.open?.((link as HTMLAnchorElement).href, '_blank', 'noopener,noreferrer')
      return true
    },
  },
})

/** A task item: a checkbox outside the editable text, and the item's content. */
function taskItemView(node: PMNode, view: EditorView, getPos: () => number | undefined): NodeView {
  const dom = document.createElement('li')
  dom.className = 'tandem-task'
  const checkbox = document.createElement('input')
  checkbox.type = 'checkbox'
  checkbox.contentEditable = 'false'
  checkbox.setAttribute('aria-label', 'Done')
  const contentDOM = document.createElement('div')
  dom.append(checkbox, contentDOM)
  const render = (current: PMNode) => {
    checkbox.checked = current.attrs.checked === true
    dom.dataset.checked = String(checkbox.checked)
    checkbox.disabled = !view.editable
  }
  checkbox.addEventListener('mousedown', (event) => event.preventDefault())
  checkbox.addEventListener('click', (event) => {
    event.preventDefault()
    const pos = getPos()
    if (pos !== undefined && view.editable) toggleTask(pos)(view.state, view.dispatch)
  })
  render(node)
  return {
    dom,
    contentDOM,
    update(next) {
      if (next.type !== node.type) return false
      render(next)
      return true
    },
    stopEvent: (event) => event.target === checkbox,
    ignoreMutation: (mutation) => mutation.target === checkbox || mutation.target === dom,
  }
}

export interface EditorViewOptions {
  readonly fragment: Y.XmlFragment
  readonly awareness: Awareness
  /** Whether the person may edit; checked on every transaction, so it can change later. */
  readonly editable: () => boolean
  /** Called after every state change, e.g. to refresh a toolbar. */
  readonly onUpdate?: (view: EditorView) => void
}

/** A ProseMirror view on `fragment`, inside `place`. The caller destroys it. */
export function createEditorView(place: HTMLElement, options: EditorViewOptions): EditorView {
  return new EditorView(place, {
    state: EditorState.create({ schema, plugins: collaborativePlugins(options.fragment, options.awareness) }),
    editable: options.editable,
    nodeViews: { task_item: (node, v, getPos) => taskItemView(node, v, getPos) },
    attributes: {
      class: 'tandem-content',
      role: 'textbox',
      'aria-multiline': 'true',
      'aria-label': 'Document',
    },
    // `this`, not a variable: y-prosemirror dispatches while the view is still being constructed.
    dispatchTransaction(this: EditorView, tr) {
      this.updateState(this.state.apply(tr))
      options.onUpdate?.(this)
    },
  })
}
