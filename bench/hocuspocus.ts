/**
 * A peer to compare with (`npm run bench -- --with hocuspocus`): Hocuspocus 4 as its documentation
 * sets it up, with its database extension storing each document's state in LevelDB (the same
 * leveldown Tandem uses) at Hocuspocus's default debounce. It relays before it stores: a crash
 * loses up to the debounce's worth of edits, where Tandem relays only what is on disk.
 * Usage: node dist/bench/hocuspocus.js <data dir>. Prints `{"port":…}` once listening.
 */
import { Database } from '@hocuspocus/extension-database'
import { Server } from '@hocuspocus/server'
import leveldown from 'leveldown'

const dir = process.argv[2]
if (!dir) throw new Error('usage: hocuspocus.js <data dir>')
const db = leveldown(dir)
await new Promise<void>((resolve, reject) =>
  db.open({ createIfMissing: true }, (err) => (err ? reject(err) : resolve())),
)

const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  stopOnSignals: true,
  extensions: [
    new Database({
      fetch: ({ documentName }) =>
        new Promise((resolve, reject) =>
          db.get(Buffer.from(documentName), { asBuffer: true }, (err, value) => {
            if (err && /notfound/i.test(err.message)) resolve(null)
            else if (err) reject(err)
            else resolve(value ?? null)
          }),
        ),
      store: ({ documentName, state }) =>
        new Promise((resolve, reject) =>
          db.batch([{ type: 'put', key: Buffer.from(documentName), value: state }], {}, (err) =>
            err ? reject(err) : resolve(),
          ),
        ),
    }),
  ],
})
await server.listen()
console.log(JSON.stringify({ port: server.address.port }))
