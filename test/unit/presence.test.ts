import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import type { Connection } from '../../server/connection.js'
import { ConnectionError } from '../../server/errors.js'
import { Peer as Node, Presence } from '../../server/presence.js'

/**
 * The room side of awareness, fed by real y-protocols Awareness instances and read back by one, so
 * what stock clients make of the relayed bytes is what is checked. The peers stand in for sockets:
 * the outdated-state sweep needs 30 s of (fake) time, which a socket test cannot wait for.
 */
class Peer {
  lastSentAt = 0
  readonly frames: Uint8Array[] = []
  /** What a stock client of this peer sees. */
  readonly view = new awarenessProtocol.Awareness(new Y.Doc())

  send(frame: Uint8Array): void {
    this.frames.push(frame)
    this.lastSentAt = performance.now()
    awarenessProtocol.applyAwarenessUpdate(this.view, payload(frame), 'server')
  }
  probe(): void {}
  reject(): void {}
  get connection(): Connection {
    return this as unknown as Connection
  }
  stateOf(source: awarenessProtocol.Awareness): unknown {
    return this.view.getStates().get(source.clientID)
  }
}

/** The awareness update an awareness frame carries. */
function payload(frame: Uint8Array): Uint8Array {
  const decoder = decoding.createDecoder(frame)
  expect(decoding.readVarUint(decoder)).toBe(1)
  return decoding.readVarUint8Array(decoder)
}

const update = (source: awarenessProtocol.Awareness) =>
  awarenessProtocol.encodeAwarenessUpdate(source, [source.clientID])

describe('presence', () => {
  let alice: Peer
  let bob: Peer
  let presence: Presence
  beforeEach(() => {
    vi.useFakeTimers()
    alice = new Peer()
    bob = new Peer()
    presence = new Presence(new Set([alice.connection, bob.connection]), {
      flushMs: 30,
      keepaliveMs: 10_000,
      maxAwarenessBytes: 65_536,
    })
  })
  afterEach(() => {
    presence.destroy()
    vi.useRealTimers()
  })

  it('relays states as their clients sent them, and a leave as a removal stock clients apply', () => {
    const a = new awarenessProtocol.Awareness(new Y.Doc())
    a.setLocalState({ user: { name: 'Alice', colour: '#f00' }, cursor: { anchor: 3, head: 5 } })
    presence.apply(alice.connection, update(a))
    presence.flush()
    expect(bob.stateOf(a)).toEqual(a.getLocalState())
    expect(alice.frames).toEqual([]) // no echo of a busy client's own state

    // A newcomer gets everyone in one frame, byte for byte what y-protocols encodes.
    const carol = new Peer()
    presence.greet(carol.connection)
    expect(carol.frames).toHaveLength(1)
    expect(carol.stateOf(a)).toEqual(a.getLocalState())

    presence.leave(alice.connection)
    presence.flush()
    expect(bob.view.getStates().has(a.clientID)).toBe(false)
  })

  it('sends what changed at the end of its 30 ms window, and a change after an early flush in a window of its own', () => {
    const a = new awarenessProtocol.Awareness(new Y.Doc())
    a.setLocalStateField('cursor', 1)
    presence.apply(alice.connection, update(a))
    vi.advanceTimersByTime(29)
    expect(bob.frames).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(bob.stateOf(a)).toEqual({ cursor: 1 })

    // Flushed early (with a document update): the window's timer goes with it, and the next
    // change starts a window of its own.
    a.setLocalStateField('cursor', 2)
    presence.apply(alice.connection, update(a))
    vi.advanceTimersByTime(10)
    presence.flush()
    expect(bob.stateOf(a)).toEqual({ cursor: 2 })
    a.setLocalStateField('cursor', 3)
    presence.apply(alice.connection, update(a))
    // (Where the first window would have ended.)
    vi.advanceTimersByTime(20)
    expect(bob.stateOf(a)).toEqual({ cursor: 2 })
    vi.advanceTimersByTime(10)
    expect(bob.stateOf(a)).toEqual({ cursor: 3 })
    // Nothing changed since: the next window sends nothing.
    const sent = bob.frames.length
    vi.advanceTimersByTime(100)
    expect(bob.frames).toHaveLength(sent)
  })

  it('ignores an echo at the same clock, and takes a newer one', () => {
    const a = new awarenessProtocol.Awareness(new Y.Doc())
    a.setLocalStateField('cursor', 1)
    presence.apply(alice.connection, update(a))
    presence.flush()
    const sent = bob.frames.length
    presence.apply(bob.connection, update(a)) // a stock client sending back what it received
    presence.flush()
    expect(bob.frames).toHaveLength(sent)
    a.setLocalStateField('cursor', 2)
    presence.apply(alice.connection, update(a))
    presence.flush()
    expect(bob.stateOf(a)).toEqual({ cursor: 2 })
  })

  it('removes a state not renewed within 30 s, and keeps one that is', () => {
    const quiet = new awarenessProtocol.Awareness(new Y.Doc())
    const renewing = new awarenessProtocol.Awareness(new Y.Doc())
    quiet.setLocalStateField('user', 'quiet')
    renewing.setLocalStateField('user', 'renewing')
    presence.apply(alice.connection, update(quiet))
    presence.apply(alice.connection, update(renewing))
    vi.advanceTimersByTime(15_000)
    renewing.setLocalState(renewing.getLocalState()) // what stock clients do every 15 s
    presence.apply(alice.connection, update(renewing))
    vi.advanceTimersByTime(16_000)
    expect(bob.view.getStates().has(quiet.clientID)).toBe(false)
    expect(bob.stateOf(renewing)).toEqual({ user: 'renewing' })
    // The removal reaches its owner too: a stock client still there puts its state back.
    expect(alice.view.getStates().has(quiet.clientID)).toBe(false)
    quiet.on('update', () => presence.apply(alice.connection, update(quiet)))
    awarenessProtocol.applyAwarenessUpdate(quiet, payload(alice.frames.at(-1)!), 'server')
    presence.flush()
    expect(bob.stateOf(quiet)).toEqual({ user: 'quiet' })
  })

  it('keeps a departed client out for 60 s, then forgets it', () => {
    const a = new awarenessProtocol.Awareness(new Y.Doc())
    a.setLocalStateField('user', 'Alice')
    presence.apply(alice.connection, update(a))
    presence.flush()
    const echo = update(a) // what a stock client (Bob's) sends back of Alice's state
    presence.leave(alice.connection)
    presence.flush()
    vi.advanceTimersByTime(55_000)
    // Bob's echo arriving long after Alice left does not bring her back as Bob's.
    presence.apply(bob.connection, echo)
    presence.flush()
    const eve = new Peer()
    presence.greet(eve.connection)
    expect(eve.stateOf(a)).toBeUndefined()
    // Removals of clients the room does not know remove nothing, and are no clients of Bob's.
    const unknown = Array.from({ length: 9 }, (_, i): [number, number] => [424_242 + i, 7])
    expect(() => presence.apply(bob.connection, awarenessRemovals(unknown))).not.toThrow()
    vi.advanceTimersByTime(10_000)
    // Forgotten: the same client ID is a newcomer again, whatever its clock.
    const carol = new Peer()
    presence.apply(carol.connection, echo)
    const dave = new Peer()
    presence.greet(dave.connection)
    expect(dave.stateOf(a)).toEqual({ user: 'Alice' })
  })

  it('refuses a state that is not JSON with 1007, relaying nothing', () => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1) // one entry
    encoding.writeVarUint(e, 42) // client ID
    encoding.writeVarUint(e, 1) // clock
    encoding.writeVarString(e, '{"cursor":')
    let error: unknown
    try {
      presence.apply(alice.connection, encoding.toUint8Array(e))
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(ConnectionError)
    expect(error).toMatchObject({ closeCode: 1007 })
    presence.flush()
    expect(bob.frames).toEqual([])
  })
})

describe('presence across nodes (cluster mode)', () => {
  let alice: Peer
  let presence: Presence
  let published: Uint8Array[]
  const other = new Node('node-b')
  beforeEach(() => {
    vi.useFakeTimers()
    alice = new Peer()
    published = []
    presence = new Presence(new Set([alice.connection]), {
      flushMs: 30,
      keepaliveMs: 10_000,
      maxAwarenessBytes: 65_536,
      publish: (frame) => published.push(frame),
    })
  })
  afterEach(() => {
    presence.destroy()
    vi.useRealTimers()
  })

  it('publishes what its connections change, never what another node published', () => {
    const local = new awarenessProtocol.Awareness(new Y.Doc())
    const remote = new awarenessProtocol.Awareness(new Y.Doc())
    local.setLocalStateField('user', 'here')
    remote.setLocalStateField('user', 'there')
    presence.apply(alice.connection, update(local))
    presence.applyRemote(other, update(remote))
    presence.flush()
    // Alice hears the other node's client; the other nodes hear only Alice's.
    expect(alice.stateOf(remote)).toEqual({ user: 'there' })
    expect(published).toHaveLength(1)
    const heard = new awarenessProtocol.Awareness(new Y.Doc())
    awarenessProtocol.applyAwarenessUpdate(heard, payload(published[0]!), 'node')
    expect(heard.getStates().get(local.clientID)).toEqual({ user: 'here' })
    expect(heard.getStates().has(remote.clientID)).toBe(false)
    // A node asking for states gets only this node's.
    const answer = new awarenessProtocol.Awareness(new Y.Doc())
    awarenessProtocol.applyAwarenessUpdate(answer, payload(presence.localStates()!), 'node')
    const known = [...answer.getStates().keys()].filter((id) => id !== answer.clientID)
    expect(known).toEqual([local.clientID])
  })

  it('removes every state of a node that is gone, without publishing the removal', () => {
    const remote = new awarenessProtocol.Awareness(new Y.Doc())
    remote.setLocalStateField('user', 'there')
    presence.applyRemote(other, update(remote))
    presence.flush()
    expect(alice.stateOf(remote)).toEqual({ user: 'there' })
    presence.dropPeer(other)
    presence.flush()
    expect(alice.view.getStates().has(remote.clientID)).toBe(false)
    expect(published).toEqual([])
  })

  it('lets a client that moved here from another node take its state over', () => {
    const moving = new awarenessProtocol.Awareness(new Y.Doc())
    moving.setLocalStateField('user', 'before')
    presence.applyRemote(other, update(moving))
    moving.setLocalStateField('user', 'after')
    presence.apply(alice.connection, update(moving))
    presence.flush()
    expect(alice.stateOf(moving)).toEqual({ user: 'after' })
    // Now this node's: published, and no longer dropped with the other node.
    expect(published).toHaveLength(1)
    presence.dropPeer(other)
    presence.flush()
    const eve = new Peer()
    presence.greet(eve.connection)
    expect(eve.stateOf(moving)).toEqual({ user: 'after' })
  })
})

/** An awareness update removing each `[clientId, clock]`, as a stock client encodes it. */
function awarenessRemovals(removed: readonly [number, number][]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, removed.length)
  for (const [clientId, clock] of removed) {
    encoding.writeVarUint(e, clientId)
    encoding.writeVarUint(e, clock)
    encoding.writeVarString(e, 'null')
  }
  return encoding.toUint8Array(e)
}
