import * as Y from 'yjs'
import { ApiError } from './api.js'
import { emptyState, showVersion, type VersionView } from './version-view.js'
import {
  type DocTarget,
  listVersions,
  restoreVersion,
  saveVersion,
  type Version,
  versionState,
} from './versions.js'

/** Version states kept for switching between versions without fetching them again. */
const MAX_CACHED_STATES = 8
/** The longest version name the server takes (server/api.ts). */
const MAX_NAME_LENGTH = 200

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

export interface HistoryOptions {
  /** The document whose history this is. */
  readonly doc: DocTarget
  /** Whether this person may save and restore versions (read-only people only look). */
  readonly canWrite: boolean
  /**
   * Resolves once this page's edits are on the server, or after a bounded wait: a version saved
   * right after typing then holds the typing.
   */
  readonly whenSaved: () => Promise<void>
  /** Called when the panel opens or closes and when a version is shown or left. */
  readonly onChange: () => void
}

/** A version's title: its name, or its number for one recorded automatically. */
function titleOf(version: Version): string {
  return version.name ?? `Version ${version.id}`
}

function authorsOf(version: Version): string {
  return version.authors.map((author) => author.name ?? author.id).join(', ')
}

/** A short sentence for a failed request; `notFound` is what a 404 means where it happened. */
function explain(error: unknown, notFound: string): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error)
  switch (error.status) {
    case 0:
      return error.message
    case 401:
      return 'Sign-in required, or the link has expired.'
    case 403:
      return `Not allowed: ${error.message}.`
    case 404:
      return notFound
    default:
      return `The server said: ${error.message}`
  }
}

function button(className: string, text: string, onClick: () => void): HTMLButtonElement {
  const el = document.createElement('button')
  el.type = 'button'
  el.className = className
  el.textContent = text
  el.addEventListener('click', onClick)
  return el
}

/**
 * The version history: a panel listing the document's versions (newest first) with "Save
 * version…", and, for a selected version, the document as it was — read-only, with what changed
 * since the previous version marked — shown in place of the live document with "Restore this
 * version" and "Back to the document".
 */
export class HistoryPanel {
  /** The panel (beside the document). */
  readonly dom: HTMLElement
  /** Where a version is shown (in place of the document, which the caller hides while `viewing`). */
  readonly versionDom: HTMLElement
  private readonly list: HTMLOListElement
  private readonly message: HTMLElement
  /** What the list is (loading, empty). */
  private readonly note: HTMLElement
  private readonly saveForm: HTMLFormElement
  private readonly nameInput: HTMLInputElement
  private readonly saveButton: HTMLButtonElement | null
  private readonly versionTitle: HTMLElement
  private readonly versionMeta: HTMLElement
  private readonly versionSince: HTMLElement
  private readonly versionPage: HTMLElement
  private readonly actions: HTMLElement
  private readonly confirm: HTMLElement
  private versions: readonly Version[] = []
  private selected: Version | null = null
  private view: VersionView | null = null
  /** Bumped by each list refresh and each selection: an answer for an older one is dropped. */
  private listRound = 0
  private selectRound = 0
  private busy = false
  private readonly states = new Map<number, Promise<Uint8Array>>()
  private readonly aborter = new AbortController()

  constructor(private readonly options: HistoryOptions) {
    this.dom = document.createElement('aside')
    this.dom.className = 'tandem-history-panel'
    this.dom.setAttribute('aria-label', 'Version history')
    this.dom.hidden = true
    const head = document.createElement('div')
    head.className = 'tandem-history-head'
    const heading = document.createElement('h2')
    heading.textContent = 'History'
    const close = button('tandem-history-close', '×', () => this.close())
    close.title = 'Close history'
    close.setAttribute('aria-label', 'Close history')
    head.append(heading, close)

    this.saveForm = document.createElement('form')
    this.saveForm.className = 'tandem-history-form'
    this.saveForm.hidden = true
    this.nameInput = document.createElement('input')
    this.nameInput.className = 'tandem-history-name'
    this.nameInput.placeholder = 'Version name'
    this.nameInput.maxLength = MAX_NAME_LENGTH
    this.nameInput.setAttribute('aria-label', 'Version name')
    const submit = document.createElement('button')
    submit.type = 'submit'
    submit.textContent = 'Save'
    const cancel = button('', 'Cancel', () => this.closeSaveForm())
    this.saveForm.append(this.nameInput, submit, cancel)
    this.saveForm.addEventListener('submit', (event) => {
      event.preventDefault()
      void this.save()
    })
    this.saveForm.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.closeSaveForm()
    })
    this.saveButton = options.canWrite
      ? button('tandem-history-save', 'Save version…', () => this.openSaveForm())
      : null

    this.message = document.createElement('p')
    this.message.className = 'tandem-history-message'
    this.message.setAttribute('role', 'status')
    this.note = document.createElement('p')
    this.note.className = 'tandem-history-note'
    this.list = document.createElement('ol')
    this.list.className = 'tandem-versions'
    this.list.setAttribute('aria-label', 'Versions, newest first')
    this.dom.append(
      head,
      ...(this.saveButton ? [this.saveButton, this.saveForm] : []),
      this.message,
      this.note,
      this.list,
    )

    this.versionDom = document.createElement('section')
    this.versionDom.className = 'tandem-version'
    this.versionDom.setAttribute('aria-label', 'Version')
    this.versionDom.hidden = true
    const bar = document.createElement('div')
    bar.className = 'tandem-version-bar'
    const about = document.createElement('div')
    about.className = 'tandem-version-about'
    this.versionTitle = document.createElement('strong')
    this.versionTitle.className = 'tandem-version-title'
    this.versionMeta = document.createElement('span')
    this.versionMeta.className = 'tandem-version-meta'
    this.versionSince = document.createElement('span')
    this.versionSince.className = 'tandem-version-legend'
    about.append(this.versionTitle, this.versionMeta, this.versionSince)
    this.actions = document.createElement('div')
    this.actions.className = 'tandem-version-actions'
    if (options.canWrite) {
      this.actions.append(
        button('tandem-version-restore', 'Restore this version', () => this.askRestore(true)),
      )
    }
    this.actions.append(button('tandem-version-back', 'Back to the document', () => this.back()))
    this.confirm = document.createElement('div')
    this.confirm.className = 'tandem-version-confirm'
    this.confirm.hidden = true
    const question = document.createElement('span')
    question.textContent =
      'Replace the document with this version for everyone? What it holds now stays in the history.'
    this.confirm.append(
      question,
      button('tandem-version-confirm-restore', 'Restore', () => void this.restore()),
      button('tandem-version-confirm-cancel', 'Cancel', () => this.askRestore(false)),
    )
    bar.append(about, this.actions, this.confirm)
    this.versionPage = document.createElement('div')
    this.versionPage.className = 'tandem-version-page'
    this.versionDom.append(bar, this.versionPage)
  }

  /** Whether the panel is open. */
  get isOpen(): boolean {
    return !this.dom.hidden
  }

  /** Whether a version is shown in place of the document. */
  get viewing(): boolean {
    return this.selected !== null
  }

  toggle(): void {
    if (this.isOpen) this.close()
    else this.open()
  }

  /** Opens the panel and fetches the list of versions. */
  open(): void {
    if (this.isOpen) return
    this.dom.hidden = false
    this.say('')
    this.options.onChange()
    void this.refresh()
  }

  /** Closes the panel, and the version shown if any. */
  close(): void {
    if (!this.isOpen) return
    this.closeSaveForm()
    this.leaveVersion()
    this.dom.hidden = true
    this.options.onChange()
  }

  /** Frees everything; requests in flight are aborted. */
  destroy(): void {
    this.aborter.abort()
    this.view?.destroy()
    this.view = null
    this.states.clear()
    this.dom.remove()
    this.versionDom.remove()
  }

  private say(text: string, kind: 'info' | 'error' = 'info'): void {
    this.message.textContent = text
    this.message.dataset.kind = kind
  }

  private async refresh(): Promise<void> {
    const round = ++this.listRound
    if (this.versions.length === 0) this.note.textContent = 'Loading…'
    let versions: Version[]
    try {
      versions = await listVersions(this.options.doc, this.aborter.signal)
    } catch (error) {
      if (round !== this.listRound || this.aborter.signal.aborted) return
      if (error instanceof ApiError && error.status === 404) versions = []
      else {
        this.note.textContent = ''
        this.say(explain(error, 'This document does not exist.'), 'error')
        return
      }
    }
    if (round !== this.listRound) return
    this.versions = versions
    this.renderList()
    this.note.textContent =
      versions.length === 0 ? 'No versions yet. They are saved as you edit, and with Save version…' : ''
  }

  private renderList(): void {
    const items = [...this.versions].reverse().map((version) => {
      const item = document.createElement('li')
      const el = button('tandem-version-item', '', () => void this.select(version))
      el.dataset.version = String(version.id)
      el.setAttribute('aria-pressed', String(this.selected?.id === version.id))
      const title = document.createElement('span')
      title.className = 'tandem-version-name'
      title.textContent = titleOf(version)
      const time = document.createElement('time')
      time.className = 'tandem-version-time'
      time.dateTime = version.at.toISOString()
      time.textContent = timeFormat.format(version.at)
      const authors = document.createElement('span')
      authors.className = 'tandem-version-authors'
      authors.textContent = authorsOf(version)
      el.append(title, time, authors)
      item.append(el)
      return item
    })
    this.list.replaceChildren(...items)
  }

  private markSelected(): void {
    for (const el of this.list.querySelectorAll<HTMLElement>('.tandem-version-item')) {
      el.setAttribute('aria-pressed', String(el.dataset.version === String(this.selected?.id)))
    }
  }

  /** A version's state, V1 as the server sends it; fetched once while it stays in the cache. */
  private stateOf(id: number): Promise<Uint8Array> {
    const cached = this.states.get(id)
    if (cached) return cached
    const state = versionState(this.options.doc, id, this.aborter.signal)
    state.catch(() => this.states.delete(id))
    this.states.set(id, state)
    // Oldest first in a Map's order: drop from the front.
    for (const key of this.states.keys()) {
      if (this.states.size <= MAX_CACHED_STATES) break
      this.states.delete(key)
    }
    return state
  }

  /** Shows `version` with the changes since the one before it (for the first: since nothing). */
  private async select(version: Version): Promise<void> {
    const round = ++this.selectRound
    this.say('')
    const index = this.versions.findIndex((v) => v.id === version.id)
    const previous = index > 0 ? this.versions[index - 1] : undefined
    this.view?.destroy()
    this.view = null
    this.selected = version
    this.askRestore(false)
    this.markSelected()
    this.versionTitle.textContent = titleOf(version)
    const authors = authorsOf(version)
    this.versionMeta.textContent = `${timeFormat.format(version.at)}${authors ? ` · ${authors}` : ''}`
    this.versionSince.replaceChildren(...this.legend(previous))
    this.versionDom.hidden = false
    this.versionDom.setAttribute('aria-busy', 'true')
    this.options.onChange()
    let state: Uint8Array
    let before: Uint8Array
    try {
      const [current, prior] = await Promise.all([
        this.stateOf(version.id),
        previous ? this.stateOf(previous.id) : null,
      ])
      // The renderer takes both states in the V2 encoding; converting also checks the bytes.
      state = Y.convertUpdateFormatV1ToV2(current)
      before = prior ? Y.convertUpdateFormatV1ToV2(prior) : emptyState()
    } catch (error) {
      if (round !== this.selectRound || this.aborter.signal.aborted) return
      this.leaveVersion()
      this.say(explain(error, 'This version no longer exists.'), 'error')
      return
    }
    if (round !== this.selectRound) return
    this.versionDom.setAttribute('aria-busy', 'false')
    this.view = showVersion(this.versionPage, state, before)
  }

  private legend(previous: Version | undefined): (Node | string)[] {
    const added = document.createElement('ins')
    added.className = 'tandem-ychange-added'
    added.textContent = 'added'
    const removed = document.createElement('del')
    removed.className = 'tandem-ychange-removed'
    removed.textContent = 'removed'
    const since = previous ? ` since ${titleOf(previous)}` : ' since the document was created'
    return [added, ' and ', removed, since]
  }

  /** Leaves the version shown, back to the live document. */
  private back(): void {
    this.leaveVersion()
    this.options.onChange()
  }

  private leaveVersion(): void {
    this.selectRound++
    this.view?.destroy()
    this.view = null
    this.selected = null
    this.askRestore(false)
    this.versionDom.hidden = true
    this.markSelected()
  }

  private askRestore(ask: boolean): void {
    this.confirm.hidden = !ask
    this.actions.hidden = ask
  }

  private async restore(): Promise<void> {
    const version = this.selected
    if (!version || this.busy) return
    this.busy = true
    this.say(`Restoring ${titleOf(version)}…`)
    try {
      const restored = await restoreVersion(this.options.doc, version.id)
      if (this.aborter.signal.aborted) return
      // The live document receives the restored content through the provider, like any change.
      this.back()
      this.say(`Restored ${titleOf(version)} (now ${titleOf(restored)}).`)
      await this.refresh()
    } catch (error) {
      if (this.aborter.signal.aborted) return
      this.askRestore(false)
      this.say(explain(error, 'This version no longer exists.'), 'error')
    } finally {
      this.busy = false
    }
  }

  private openSaveForm(): void {
    this.saveForm.hidden = false
    if (this.saveButton) this.saveButton.hidden = true
    this.nameInput.value = ''
    this.nameInput.focus()
  }

  private closeSaveForm(): void {
    this.saveForm.hidden = true
    if (this.saveButton) this.saveButton.hidden = false
  }

  private async save(): Promise<void> {
    const name = this.nameInput.value.trim()
    if (name === '') {
      this.say('Give the version a name.', 'error')
      this.nameInput.focus()
      return
    }
    if (this.busy) return
    this.busy = true
    this.say('Saving…')
    try {
      // Typing a moment ago may still be on its way: the version holds what this person sees.
      await this.options.whenSaved()
      const saved = await saveVersion(this.options.doc, name)
      if (this.aborter.signal.aborted) return
      this.closeSaveForm()
      this.say(`Saved ${titleOf(saved)}.`)
      await this.refresh()
    } catch (error) {
      if (this.aborter.signal.aborted) return
      const text =
        error instanceof ApiError && error.status === 409
          ? `A version named “${name}” exists already.`
          : explain(error, 'This document is not on the server yet: type something first.')
      this.say(text, 'error')
    } finally {
      this.busy = false
    }
  }
}
