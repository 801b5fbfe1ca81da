// A version of the document, read-only, with what changed since the previous version marked: drawn
// by y-prosemirror's snapshot rendering in a view of its own, never in the live editor.
import { type DOMOutputSpec, type MarkSpec, type NodeSpec, Schema } from 'prosemirror-model'
import { EditorState } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { ySyncPlugin, ySyncPluginKey } from 'y-prosemirror'
import * as Y from 'yjs'
import { FRAGMENT } from '../content/convert.js'
import { schema } from '../content/schema.js'

/** What y-prosemirror puts in a node's `ychange` attribute and a text's `ychange` mark. */
interface YChange {
  readonly type?: unknown
}

/** `added` or `removed` for a change y-prosemirror marked; null otherwise. */
function changeType(value: unknown): 'added' | 'removed' | null {
  const type = (value as YChange | null)?.type
  return type === 'added' || type === 'removed' ? type : null
}

/** `out` (a toDOM result) with the class that shows `change`, when there is one. */
function withChangeClass(out: DOMOutputSpec, change: unknown): DOMOutputSpec {
  const type = changeType(change)
  if (type === null || !Array.isArray(out)) return out
  const [tag, second, ...rest] = out as readonly [string, ...unknown[]]
  const className = `tandem-ychange-${type}`
  const isAttrs =
    typeof second === 'object' && second !== null && !Array.isArray(second) && !('nodeType' in second)
  if (!isAttrs) return [tag, { class: className }, ...(second === undefined ? [] : [second]), ...rest]
  const attrs = second as Record<string, unknown>
  const classes = typeof attrs.class === 'string' ? `${attrs.class} ${className}` : className
  return [tag, { ...attrs, class: classes }, ...rest]
}

/**
 * Tandem's node spec for the version view: a `ychange` attribute and its class; text in a code
 * block may carry the `ychange` mark; a task item draws its (disabled) checkbox itself, as the
 * live editor's node view does.
 */
function versionNodeSpec(name: string, spec: NodeSpec): NodeSpec {
  if (name === schema.topNodeType.name || name === 'text') return spec
  const attrs = { ...spec.attrs, ychange: { default: null } }
  if (name === 'task_item') {
    return {
      ...spec,
      attrs,
      toDOM: (node) =>
        withChangeClass(
          [
            'li',
            { class: 'tandem-task', 'data-checked': String(node.attrs.checked === true) },
            [
              'input',
              {
                type: 'checkbox',
                disabled: '',
                'aria-label': 'Done',
                ...(node.attrs.checked === true ? { checked: '' } : {}),
              },
            ],
            ['div', 0],
          ],
          node.attrs.ychange,
        ),
    }
  }
  const toDOM = spec.toDOM
  return {
    ...spec,
    attrs,
    ...(name === 'code_block' ? { marks: 'ychange' } : {}),
    ...(toDOM ? { toDOM: (node) => withChangeClass(toDOM(node), node.attrs.ychange) } : {}),
  }
}

/** The mark y-prosemirror puts on text added (`<ins>`) or removed (`<del>`) between two versions. */
const ychangeMark: MarkSpec = {
  attrs: { user: { default: null }, type: { default: null }, color: { default: null } },
  inclusive: false,
  toDOM: (mark): DOMOutputSpec =>
    changeType(mark.attrs) === 'removed'
      ? ['del', { class: 'tandem-ychange-removed' }, 0]
      : ['ins', { class: 'tandem-ychange-added' }, 0],
}

/**
 * The Tandem schema plus the `ychange` node attribute and text mark that y-prosemirror's snapshot
 * rendering writes: without them its error path deletes the Y items it cannot draw. Used only by
 * version views, so the live schema and the stored documents stay as they are.
 */
export const versionSchema: Schema = (() => {
  let nodes = schema.spec.nodes
  schema.spec.nodes.forEach((name, spec) => {
    nodes = nodes.update(name, versionNodeSpec(name, spec))
  })
  return new Schema({ nodes, marks: schema.spec.marks.addToEnd('ychange', ychangeMark) })
})()

/** An empty document's state (V2): what the first version is compared with. */
export function emptyState(): Uint8Array {
  return Y.encodeStateAsUpdateV2(new Y.Doc())
}

/** A read-only view of one version. */
export interface VersionView {
  readonly dom: HTMLElement
  /** Frees the view and its document. */
  destroy(): void
}

/**
 * Draws the document whose state is `state`, with what changed since `previous` marked (both
 * V2-encoded document states, see Y.convertUpdateFormatV1ToV2), read-only, inside `place`.
 *
 * The view is bound to a Y.Doc of its own that stays empty: y-prosemirror rebuilds both states in
 * a throwaway `gc: false` document and renders the difference; nothing is written to any document
 * a provider syncs.
 */
export function showVersion(place: HTMLElement, state: Uint8Array, previous: Uint8Array): VersionView {
  const doc = new Y.Doc()
  // The renderer names who made each change through PermanentUserData, and fails without one;
  // this one knows nobody (changes are shown as added or removed, not by whom).
  const permanentUserData = new Y.PermanentUserData(doc)
  const view = new EditorView(place, {
    state: EditorState.create({
      schema: versionSchema,
      plugins: [ySyncPlugin(doc.getXmlFragment(FRAGMENT), { permanentUserData })],
    }),
    editable: () => false,
    attributes: {
      class: 'tandem-content tandem-version-content',
      role: 'document',
      'aria-label': 'Version',
      'aria-busy': 'true',
    },
    // `this`, not a variable: y-prosemirror dispatches while the view is still being constructed.
    dispatchTransaction(this: EditorView, tr) {
      this.updateState(this.state.apply(tr))
      // y-prosemirror renders a snapshot on a later task, in a transaction it marks as its own.
      const meta = tr.getMeta(ySyncPluginKey) as { isChangeOrigin?: boolean } | undefined
      if (meta?.isChangeOrigin && ySyncPluginKey.getState(this.state)?.snapshot) {
        this.dom.setAttribute('aria-busy', 'false')
      }
    },
  })
  view.dispatch(view.state.tr.setMeta(ySyncPluginKey, { snapshot: state, prevSnapshot: previous }))
  return {
    dom: view.dom,
    destroy() {
      view.destroy()
      doc.destroy()
    },
  }
}
