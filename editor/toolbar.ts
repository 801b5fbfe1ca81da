import type { MarkType, NodeType } from 'prosemirror-model'
import type { Command, EditorState } from 'prosemirror-state'
import type { EditorView } from 'prosemirror-view'
import { redoCommand, undoCommand, yUndoPluginKey } from 'y-prosemirror'
import type * as Y from 'yjs'
import { schema } from '../content/schema.js'
import {
  activeBlock,
  activeList,
  insertHorizontalRule,
  isInside,
  isMarkActive,
  setCodeBlock,
  setHeading,
  setLink,
  setParagraph,
  toggleBlockquote,
  toggleBold,
  toggleBulletList,
  toggleCode,
  toggleItalic,
  toggleOrderedList,
  toggleStrike,
  toggleTaskList,
  toggleUnderline,
} from './commands.js'
import { downloadDocument, type FileFormat, importFile } from './transfer.js'

const { nodes, marks } = schema

interface ButtonSpec {
  readonly name: string
  readonly label: string
  readonly title: string
  /** What the button does; when it cannot apply at the selection, the button is disabled. */
  readonly run: Command
  readonly active?: (state: EditorState) => boolean
  /** Enabled even when the document cannot be edited (it does not change the document). */
  readonly whileReadOnly?: boolean
}

const mod = /Mac|iP(hone|ad)/.test(globalThis.navigator?.platform ?? '') ? '⌘' : 'Ctrl+'

/** Removes the link at the selection; otherwise, with text selected, `ask`s for an address. */
const linkCommand =
  (ask: () => void): Command =>
  (state, dispatch) => {
    if (isMarkActive(state, marks.link)) return setLink(null)(state, dispatch)
    if (state.selection.empty) return false
    if (dispatch) ask()
    return true
  }

/** Downloads the document as a file of `format` named `name`. */
const exportCommand =
  (format: FileFormat, name: string): Command =>
  (state, dispatch) => {
    if (dispatch) downloadDocument(state.doc, name, format)
    return true
  }

/** A button for a mark: pressed when the mark covers the selection. */
const markButton = (mark: MarkType, label: string, title: string, run: Command): ButtonSpec => ({
  name: mark.name,
  label,
  title,
  run,
  active: (s) => isMarkActive(s, mark),
})

/** A button for a kind of list: pressed inside such a list. */
const listButton = (list: NodeType, label: string, title: string, run: Command): ButtonSpec => ({
  name: list.name,
  label,
  title,
  run,
  active: (s) => activeList(s) === list,
})

/** What the toolbar's file buttons work on. */
export interface ToolbarFiles {
  /** The document Import writes into. */
  readonly doc: Y.Doc
  /** The document's name, which exported files are named after. */
  readonly name: string
}

/** The panel the History button opens and closes (the editor's HistoryPanel). */
export interface ToolbarHistory {
  readonly isOpen: boolean
  toggle(): void
}

/**
 * The toolbar's buttons; the link button asks for its address with `askLink`, Import for a file
 * with `pickFile`, History toggles `history`'s panel.
 */
const buttons = (
  askLink: () => void,
  pickFile: () => void,
  name: string,
  history: ToolbarHistory | null,
): readonly (ButtonSpec | '|')[] => [
  markButton(marks.bold, 'B', `Bold (${mod}B)`, toggleBold),
  markButton(marks.italic, 'I', `Italic (${mod}I)`, toggleItalic),
  markButton(marks.underline, 'U', `Underline (${mod}U)`, toggleUnderline),
  markButton(marks.strike, 'S', `Strikethrough (${mod}Shift+S)`, toggleStrike),
  markButton(marks.code, '</>', `Code (${mod}E)`, toggleCode),
  markButton(marks.link, 'Link', 'Link', linkCommand(askLink)),
  '|',
  listButton(nodes.bullet_list, '•', `Bullet list (${mod}Shift+8)`, toggleBulletList),
  listButton(nodes.ordered_list, '1.', `Numbered list (${mod}Shift+7)`, toggleOrderedList),
  listButton(nodes.task_list, '☑', `Task list (${mod}Shift+9)`, toggleTaskList),
  {
    name: 'blockquote',
    label: '❝',
    title: `Quote (${mod}Shift+.)`,
    run: toggleBlockquote,
    active: (s) => isInside(s, nodes.blockquote),
  },
  { name: 'horizontal_rule', label: '―', title: 'Divider', run: insertHorizontalRule },
  '|',
  { name: 'undo', label: '↶', title: `Undo (${mod}Z)`, run: undoCommand },
  { name: 'redo', label: '↷', title: `Redo (${mod}Shift+Z)`, run: redoCommand },
  '|',
  {
    name: 'export-markdown',
    label: '⤓ MD',
    title: 'Download as Markdown',
    run: exportCommand('markdown', name),
  },
  { name: 'export-html', label: '⤓ HTML', title: 'Download as HTML', run: exportCommand('html', name) },
  {
    name: 'import',
    label: 'Import',
    title: 'Replace the document with a Markdown or HTML file',
    run: (_state, dispatch) => {
      if (dispatch) pickFile()
      return true
    },
  },
  ...(history
    ? [
        '|' as const,
        {
          name: 'history',
          label: 'History',
          title: 'Version history',
          run: (_state, dispatch) => {
            if (dispatch) history.toggle()
            return true
          },
          active: () => history.isOpen,
          whileReadOnly: true,
        } satisfies ButtonSpec,
      ]
    : []),
]

const BLOCKS: readonly { readonly value: string; readonly label: string; readonly command: Command }[] = [
  { value: 'paragraph', label: 'Text', command: setParagraph },
  { value: 'h1', label: 'Heading 1', command: setHeading(1) },
  { value: 'h2', label: 'Heading 2', command: setHeading(2) },
  { value: 'h3', label: 'Heading 3', command: setHeading(3) },
  { value: 'code_block', label: 'Code block', command: setCodeBlock },
]

function blockValue(state: EditorState): string {
  const { type, attrs } = activeBlock(state)
  if (type === nodes.heading) return `h${attrs.level}`
  return type.name
}

/**
 * The formatting toolbar: buttons that show the marks and block type at the selection
 * (`aria-pressed`), greyed out where they cannot apply, and reachable from the keyboard (one tab
 * stop, arrow keys move between buttons, as in the WAI-ARIA toolbar pattern).
 */
export class Toolbar {
  readonly dom: HTMLElement
  private readonly buttons: { readonly spec: ButtonSpec; readonly el: HTMLButtonElement }[] = []
  private readonly select: HTMLSelectElement
  private readonly linkForm: LinkForm
  private readonly filePicker: HTMLInputElement
  private readonly fileError: HTMLElement

  constructor(
    private readonly view: () => EditorView | null,
    files: ToolbarFiles,
    history: ToolbarHistory | null = null,
  ) {
    this.dom = document.createElement('div')
    this.dom.className = 'tandem-toolbar'
    this.dom.setAttribute('role', 'toolbar')
    this.dom.setAttribute('aria-label', 'Formatting')

    this.select = document.createElement('select')
    this.select.className = 'tandem-block-type'
    this.select.setAttribute('aria-label', 'Block type')
    for (const block of BLOCKS) this.select.add(new Option(block.label, block.value))
    this.select.addEventListener('change', () => {
      const editor = this.view()
      const block = BLOCKS.find((b) => b.value === this.select.value)
      if (!editor || !block) return
      block.command(editor.state, editor.dispatch)
      editor.focus()
    })
    this.dom.append(this.select)

    this.linkForm = new LinkForm(view)
    this.filePicker = document.createElement('input')
    this.filePicker.type = 'file'
    this.filePicker.accept = '.md,.markdown,.html,.htm,text/markdown,text/html'
    this.filePicker.hidden = true
    this.filePicker.addEventListener('change', () => {
      const file = this.filePicker.files?.[0]
      if (file) void this.importFrom(files.doc, file)
    })
    this.fileError = document.createElement('span')
    this.fileError.className = 'tandem-file-error'
    this.fileError.setAttribute('role', 'alert')
    const pickFile = () => {
      // Choosing the same file again must fire `change` again.
      this.filePicker.value = ''
      this.filePicker.click()
    }
    for (const spec of buttons(() => this.linkForm.open(), pickFile, files.name, history)) {
      if (spec === '|') {
        const separator = document.createElement('span')
        separator.className = 'tandem-separator'
        this.dom.append(separator)
        continue
      }
      const el = document.createElement('button')
      el.type = 'button'
      el.className = `tandem-button tandem-${spec.name}`
      el.dataset.command = spec.name
      el.textContent = spec.label
      el.title = spec.title
      el.setAttribute('aria-label', spec.title)
      el.tabIndex = -1
      // Keep the editor's selection: the button must not take focus on mouse down.
      el.addEventListener('mousedown', (event) => event.preventDefault())
      el.addEventListener('click', () => this.run(spec))
      this.buttons.push({ spec, el })
      this.dom.append(el)
    }
    this.dom.addEventListener('keydown', (event) => this.onKey(event))
    const first = this.buttons[0]
    if (first) first.el.tabIndex = 0
    this.dom.append(this.fileError, this.filePicker, this.linkForm.dom)
  }

  /** Reflects the view's state: active marks, block type, what can run. */
  update(view: EditorView): void {
    const { state } = view
    const editable = view.editable
    this.select.value = blockValue(state)
    this.select.disabled = !editable || !BLOCKS.some((b) => b.command(state))
    for (const { spec, el } of this.buttons) {
      const active = spec.active?.(state) ?? false
      el.setAttribute('aria-pressed', String(active))
      el.classList.toggle('is-active', active)
      el.disabled = (!editable && spec.whileReadOnly !== true) || !spec.run(state)
    }
  }

  private run(spec: ButtonSpec): void {
    const editor = this.view()
    if (!editor) return
    spec.run(editor.state, editor.dispatch, editor)
    // Back to the text, unless the command asked for more (the link's address) or is about
    // something else than the text (the history).
    if (!this.linkForm.isOpen && spec.whileReadOnly !== true) editor.focus()
  }

  private async importFrom(doc: Y.Doc, file: File): Promise<void> {
    this.fileError.textContent = ''
    const editor = this.view()
    try {
      await importFile(doc, file, editor ? yUndoPluginKey.getState(editor.state)?.undoManager : undefined)
    } catch (error) {
      this.fileError.textContent = error instanceof Error ? error.message : String(error)
    }
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return
    const enabled = this.buttons.filter((b) => !b.el.disabled)
    const index = enabled.findIndex((b) => b.el === document.activeElement)
    if (index === -1) return
    const next = enabled[(index + (event.key === 'ArrowRight' ? 1 : enabled.length - 1)) % enabled.length]
    if (!next) return
    event.preventDefault()
    for (const b of this.buttons) b.el.tabIndex = -1
    next.el.tabIndex = 0
    next.el.focus()
  }
}

/**
 * The address field of the link button, in the toolbar rather than a browser prompt: Enter links
 * the selected text, Escape or Cancel goes back to the text, an address that is not http(s),
 * mailto or relative is refused with a message in place.
 */
class LinkForm {
  readonly dom: HTMLFormElement
  private readonly input: HTMLInputElement
  private readonly error: HTMLElement

  constructor(private readonly view: () => EditorView | null) {
    this.dom = document.createElement('form')
    this.dom.className = 'tandem-link-form'
    this.dom.hidden = true
    // Relative links too: the check is ours (setLink), not the browser's URL validation.
    this.dom.noValidate = true
    this.input = document.createElement('input')
    this.input.type = 'url'
    this.input.placeholder = 'https://…'
    this.input.setAttribute('aria-label', 'Link address')
    const apply = document.createElement('button')
    apply.type = 'submit'
    apply.textContent = 'Link'
    const cancel = document.createElement('button')
    cancel.type = 'button'
    cancel.textContent = 'Cancel'
    this.error = document.createElement('span')
    this.error.className = 'tandem-link-error'
    this.error.setAttribute('role', 'alert')
    this.dom.append(this.input, apply, cancel, this.error)
    this.dom.addEventListener('submit', (event) => {
      event.preventDefault()
      this.apply()
    })
    cancel.addEventListener('click', () => this.close())
    this.dom.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close()
      // Arrow keys edit the address here, not move along the toolbar.
      event.stopPropagation()
    })
  }

  get isOpen(): boolean {
    return !this.dom.hidden
  }

  open(): void {
    this.dom.hidden = false
    this.error.textContent = ''
    this.input.value = 'https://'
    this.input.focus()
  }

  private apply(): void {
    const editor = this.view()
    if (!editor) return
    // The editor's selection is still the one the button was pressed on (mapped through any
    // remote edits since).
    const href = this.input.value.trim()
    if (/^(https?:\/\/)?$/i.test(href)) {
      this.error.textContent = 'Type the address to link to'
      return
    }
    if (!setLink(href)(editor.state, editor.dispatch)) {
      this.error.textContent = 'Only http(s), mailto and relative links'
      return
    }
    this.close()
  }

  private close(): void {
    this.dom.hidden = true
    this.view()?.focus()
  }
}
