/**
 * The baseline: the least a WebSocket relay can do. Every binary frame goes to the other sockets of
 * the same path; no CRDT, no disk, no awareness bookkeeping. Prints `{"port":…}` once listening.
 */
import { type WebSocket, WebSocketServer } from 'ws'

const rooms = new Map<string, Set<WebSocket>>()
const server = new WebSocketServer({
  port: 0,
  host: '127.0.0.1',
  perMessageDeflate: false,
  clientTracking: false,
})

server.on('connection', (socket, request) => {
  const name = request.url ?? '/'
  const members = rooms.get(name) ?? new Set<WebSocket>()
  rooms.set(name, members)
  members.add(socket)
  socket.on('message', (data, isBinary) => {
    for (const other of members) if (other !== socket) other.send(data, { binary: isBinary })
  })
  socket.on('close', () => {
    members.delete(socket)
    if (members.size === 0) rooms.delete(name)
  })
})

server.on('listening', () => {
  const address = server.address()
  console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }))
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
