import { defineTandemEditor } from '../element.js'

// `?room=name` picks the shared document (tests use it to stay apart). `server` defaults to this
// page's origin; another app would set it to its Tandem server.
const room = new URLSearchParams(location.search).get('room')
if (room) for (const el of document.querySelectorAll('tandem-editor')) el.setAttribute('room', room)
defineTandemEditor()
