import { type MountedEditor, mountEditor } from './mount.js'

/**
 * `<tandem-editor server="https://docs.example.com" room="team/notes">`: a collaborative editor
 * built on {@link mountEditor}. Optional attributes: `token`, `readonly`, `offline="false"`,
 * `user-name` and `user-color`. Changing `server`, `room` or `token` remounts it; removing the
 * element from the page disconnects it and frees everything.
 */
export class TandemEditorElement extends HTMLElement {
  static readonly observedAttributes = [
    'server',
    'room',
    'token',
    'readonly',
    'offline',
    'user-name',
    'user-color',
  ]

  /** The mounted editor while the element is in the page and has `server` and `room`. */
  editor: MountedEditor | null = null

  connectedCallback(): void {
    this.remount()
  }

  disconnectedCallback(): void {
    this.editor?.destroy()
    this.editor = null
  }

  attributeChangedCallback(name: string, previous: string | null, next: string | null): void {
    if (previous === next || !this.isConnected) return
    const user = this.user()
    if ((name === 'user-name' || name === 'user-color') && this.editor && user) this.editor.setUser(user)
    else this.remount()
  }

  private user() {
    const name = this.getAttribute('user-name')
    const color = this.getAttribute('user-color')
    return name && color ? { name, color } : undefined
  }

  private remount(): void {
    this.editor?.destroy()
    this.editor = null
    const serverUrl = this.getAttribute('server') ?? globalThis.location?.origin
    const room = this.getAttribute('room')
    if (!serverUrl || !room) return
    const token = this.getAttribute('token')
    const user = this.user()
    this.editor = mountEditor(this, {
      serverUrl,
      room,
      readOnly: this.hasAttribute('readonly'),
      offline: this.getAttribute('offline') !== 'false',
      ...(token ? { token } : {}),
      ...(user ? { user } : {}),
    })
  }
}

/** Registers `<tandem-editor>` (once; later calls are no-ops). */
export function defineTandemEditor(name = 'tandem-editor'): void {
  if (!customElements.get(name)) customElements.define(name, TandemEditorElement)
}
