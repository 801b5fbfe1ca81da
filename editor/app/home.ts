import { randomDocName } from '../identity.js'
import { docPath, recentDocs } from './recent.js'

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

byId<HTMLButtonElement>('new-doc').addEventListener('click', () => {
  location.assign(docPath(randomDocName()))
})
byId<HTMLFormElement>('open-doc').addEventListener('submit', (event) => {
  event.preventDefault()
  const room = byId<HTMLInputElement>('doc-name').value.trim()
  if (room) location.assign(docPath(room))
})

const recent = recentDocs()
if (recent.length > 0) {
  const when = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
  byId('recent-list').replaceChildren(
    ...recent.map(({ room, openedAt }) => {
      const item = document.createElement('li')
      const link = document.createElement('a')
      link.href = docPath(room)
      link.textContent = room
      const time = document.createElement('time')
      time.dateTime = new Date(openedAt).toISOString()
      const minutes = Math.round((openedAt - Date.now()) / 60_000)
      time.textContent =
        Math.abs(minutes) < 60
          ? when.format(minutes, 'minute')
          : Math.abs(minutes) < 1440
            ? when.format(Math.round(minutes / 60), 'hour')
            : when.format(Math.round(minutes / 1440), 'day')
      item.append(link, time)
      return item
    }),
  )
  byId('recent').hidden = false
}
