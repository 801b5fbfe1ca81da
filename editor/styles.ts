import css from './style.css?inline'

const ATTRIBUTE = 'data-tandem-editor'
let users = 0

/**
 * Puts the editor's stylesheet in the page while at least one editor is mounted, so an embedder
 * needs no CSS import; returns the function that releases it (the last release removes it).
 */
export function useStyles(): () => void {
  users++
  if (!document.head.querySelector(`style[${ATTRIBUTE}]`)) {
    const style = document.createElement('style')
    style.setAttribute(ATTRIBUTE, '')
    style.textContent = css
    document.head.prepend(style)
  }
  let released = false
  return () => {
    if (released) return
    released = true
    users--
    if (users === 0) document.head.querySelector(`style[${ATTRIBUTE}]`)?.remove()
  }
}
