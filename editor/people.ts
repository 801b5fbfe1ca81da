/** Who is in the document, from its awareness states: the avatars in the editor's bottom bar. */
import type { EditorView } from 'prosemirror-view'
import type { Awareness } from 'y-protocols/awareness'
import { COLORS, type Identity, initials, normalizeIdentity } from './identity.js'

/** One person in the document, as their awareness state describes them. */
export interface Person {
  readonly clientId: number
  readonly identity: Identity
  readonly self: boolean
}

/** Everyone in the document with a valid identity, me first, then by name. */
export function people(awareness: Awareness): Person[] {
  const list: Person[] = []
  for (const [clientId, state] of awareness.getStates()) {
    const identity = normalizeIdentity((state as { user?: unknown }).user)
    if (identity) list.push({ clientId, identity, self: clientId === awareness.clientID })
  }
  return list.sort(
    (a, b) => Number(b.self) - Number(a.self) || a.identity.name.localeCompare(b.identity.name),
  )
}

/**
 * The list of people in the document: an avatar (initials on the person's colour) per person.
 * Clicking someone scrolls to their cursor; clicking yourself edits your name and colour.
 */
export class PeopleList {
  readonly dom: HTMLElement
  private readonly list: HTMLElement
  private form: HTMLFormElement | null = null
  /** What the avatars show, to skip re-rendering when only cursors moved. */
  private shown = ''
  private readonly onChange = () => this.render()

  constructor(
    private readonly awareness: Awareness,
    private readonly view: () => EditorView | null,
    private readonly onIdentity: (identity: Identity) => void,
  ) {
    this.dom = document.createElement('div')
    this.dom.className = 'tandem-presence'
    this.list = document.createElement('div')
    this.list.className = 'tandem-people'
    this.list.setAttribute('role', 'list')
    this.list.setAttribute('aria-label', 'People in this document')
    this.dom.append(this.list)
    awareness.on('change', this.onChange)
    this.render()
  }

  destroy(): void {
    this.awareness.off('change', this.onChange)
    this.dom.remove()
  }

  private render(): void {
    const everyone = people(this.awareness)
    const shown = JSON.stringify(everyone)
    if (shown === this.shown) return
    this.shown = shown
    const avatars = everyone.map((person) => {
      const button = document.createElement('button')
      button.type = 'button'
      button.className = 'tandem-avatar'
      button.setAttribute('role', 'listitem')
      button.dataset.client = String(person.clientId)
      button.style.backgroundColor = person.identity.color
      button.textContent = initials(person.identity.name)
      const label = person.self
        ? `${person.identity.name} (you) — change name or colour`
        : person.identity.name
      button.title = label
      button.setAttribute('aria-label', label)
      button.addEventListener('click', () =>
        person.self ? this.toggleForm(person.identity) : this.scrollTo(person.clientId),
      )
      return button
    })
    this.list.replaceChildren(...avatars)
    this.list.dataset.count = String(everyone.length)
  }

  private scrollTo(clientId: number): void {
    const cursor = this.view()?.dom.querySelector<HTMLElement>(`.tandem-cursor[data-client="${clientId}"]`)
    if (!cursor) return
    cursor.scrollIntoView({ block: 'center', behavior: 'smooth' })
    cursor.classList.remove('tandem-flash')
    // Restart the highlight animation even if it ran a moment ago.
    void cursor.offsetWidth
    cursor.classList.add('tandem-flash')
  }

  private toggleForm(current: Identity): void {
    if (this.form) {
      this.form.remove()
      this.form = null
      return
    }
    const form = document.createElement('form')
    form.className = 'tandem-identity'
    const name = document.createElement('input')
    name.name = 'name'
    name.className = 'tandem-identity-name'
    name.value = current.name
    name.maxLength = 40
    name.required = true
    name.setAttribute('aria-label', 'Your name')
    const swatches = document.createElement('div')
    swatches.className = 'tandem-swatches'
    let color = current.color
    for (const option of COLORS) {
      const swatch = document.createElement('button')
      swatch.type = 'button'
      swatch.className = 'tandem-swatch'
      swatch.style.backgroundColor = option
      swatch.setAttribute('aria-label', `Colour ${option}`)
      swatch.setAttribute('aria-pressed', String(option === color))
      swatch.addEventListener('click', () => {
        color = option
        for (const s of swatches.children) s.setAttribute('aria-pressed', String(s === swatch))
      })
      swatches.append(swatch)
    }
    const save = document.createElement('button')
    save.type = 'submit'
    save.textContent = 'Save'
    form.append(name, swatches, save)
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const identity = normalizeIdentity({ name: name.value, color })
      if (!identity) return
      this.form = null
      form.remove()
      this.onIdentity(identity)
    })
    this.form = form
    this.dom.append(form)
    name.focus()
    name.select()
  }
}
