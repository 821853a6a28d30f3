import t, { type Test } from 'tap'
import type { Session } from '../../src/session/session.js'
import { connect, until } from '../helpers/client.js'
import { watchFlow } from '../helpers/flow.js'
import { isRunning } from '../helpers/processes.js'
import { closeCodeOf, frame, rawUpgrade, type RawConnection } from '../helpers/raw.js'
import { stillServes } from '../helpers/security.js'
import { node, startServer, type TestServer } from '../helpers/server.js'

/** The idle timeout of /echo (ms). */
const IDLE_MS = 300

// pingInterval is long where a test is not about pings: a busy machine never plays a part.
const YAML = `pingInterval: 30s
idleTimeout: ${IDLE_MS}ms
routes:
  /echo:
    command: [cat]
    closeGrace: 100ms
  /stubborn:
    command: ${node('ignore-term.mjs')}
    killGrace: 100ms
    idleTimeout: 0
  /lifetime:
    command: [cat]
    idleTimeout: 0
    maxLifetime: 200ms
  /small:
    command: [cat]
    maxMessageBytes: 4
`

t.test('idle sessions close with 1000 idle timeout; activity keeps them open', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/echo`)
  await c.opened
  const [session] = s.app.wsexec.sessions
  const opened = performance.now()
  // A message every 20 ms keeps the session open for three idle timeouts (as long as that takes:
  // on a busy machine, the client's timer always comes due before the server's idle check).
  let sent = 0
  const talk = setInterval(() => c.ws.send(`tick ${sent++}`), 20)
  t.teardown(() => clearInterval(talk))
  await until(() => performance.now() - opened > 3 * IDLE_MS, 'three idle timeouts')
  clearInterval(talk)
  t.equal(c.ws.readyState, c.ws.OPEN, 'still open after three idle timeouts of traffic')
  await c.received(sent)
  t.same(c.messages, Array.from({ length: sent }, (_, i) => `tick ${i}`), 'every message came back')
  t.same(await c.closed, { code: 1000, reason: 'idle timeout' })
  t.match(await session?.done, { closedBy: 'server', closeCode: 1000 })
  t.notOk(isRunning(session?.pid as number), 'the program ended')
  await stillServes(t, s)
})

t.test('maxLifetime ends a busy session', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/lifetime`)
  await c.opened
  const talk = setInterval(() => c.ws.send('x'), 20)
  t.teardown(() => clearInterval(talk))
  t.same(await c.closed, { code: 1000, reason: 'max lifetime' })
  clearInterval(talk)
  await stillServes(t, s)
})

t.test('a peer that stops answering pings is dropped and its process tree killed', async (t) => {
  const s = await startServer(t, YAML.replace('pingInterval: 30s', 'pingInterval: 200ms'))
  // A raw client answers pings until the program is ready, and then never again.
  const c = await rawUpgrade(s.port, '/stubborn')
  const answers = answer(c)
  await until(() => c.received().includes('ready'), 'the program to be ready')
  answers.stop()
  const [session] = s.app.wsexec.sessions
  await c.closed
  t.match(await session?.done, { signal: 'SIGKILL', closedBy: 'server', closeCode: 1001 })
  t.ok(c.received().includes(Buffer.from([0x89, 0x00])), 'it was pinged')
  t.notOk(isRunning(session?.pid as number))
  await stillServes(t, s)
})

const PING = Buffer.from([0x89, 0x00])

/** Pings (empty: the server's) in what a raw client received. */
function pingsIn (received: Buffer): number {
  let n = 0
  for (let i = received.indexOf(PING); i !== -1; i = received.indexOf(PING, i + 2)) n++
  return n
}

const PONG = frame(0xa, Buffer.alloc(0))

/**
 * Answers each ping `c` has received (before this call too) and receives with `reply(n)` (a pong
 * by default), calling `answered(n)` after each, until stopped.
 */
function answer (c: RawConnection, reply = (n: number): Buffer => PONG, answered = (n: number): void => {}): { stop: () => void } {
  let count = 0
  const onData = (): void => {
    for (const n = pingsIn(c.received()); count < n;) {
      c.socket.write(reply(++count))
      answered(count)
    }
  }
  c.socket.on('data', onData)
  onData()
  return { stop: () => c.socket.off('data', onData) }
}

/** Resolves when `c` has received `count` pings; rejects when the connection ends first. */
async function pinged (c: RawConnection, count: number): Promise<void> {
  await until(() => {
    if (c.socket.destroyed) throw new Error(`connection closed after ${pingsIn(c.received())} pings`)
    return pingsIn(c.received()) >= count
  }, `${count} pings`)
}

/** A raw client on a 100 ms heartbeat that answers each ping with `answer(n)`: still connected after four. */
async function answersPings (t: Test, reply: (n: number) => Buffer): Promise<{ s: TestServer, c: RawConnection }> {
  const s = await startServer(t, 'pingInterval: 100ms\nroutes:\n  /echo:\n    command: [cat]\n')
  const c = await rawUpgrade(s.port, '/echo')
  answer(c, reply)
  await pinged(c, 4)
  t.notOk(c.socket.destroyed, 'still connected after four ping intervals')
  return { s, c }
}

t.test('a live peer answering pings stays; ping-answering raw clients too', async (t) => {
  const { s, c } = await answersPings(t, () => PONG)
  c.socket.destroy()
  await stillServes(t, s)
})

t.test('a peer that answers pings with messages instead of pongs stays: its messages show it alive', async (t) => {
  const { s, c } = await answersPings(t, (n) => frame(0x1, Buffer.from(`still here ${n}`)))
  await until(() => c.received().includes('still here 3'), 'the messages to reach the program')
  c.socket.destroy()
  await stillServes(t, s)
})

t.test('a pong that arrived while the server was busy counts: a busy event loop is no dead peer', async (t) => {
  const intervalMs = 100
  const s = await startServer(t, `pingInterval: ${intervalMs}ms\nroutes:\n  /echo:\n    command: [cat]\n`)
  const c = await rawUpgrade(s.port, '/echo')
  answer(c, () => PONG, (n) => {
    // The pong is sent; the server's next heartbeat comes due before its loop can read it.
    if (n === 1) for (const end = performance.now() + 2 * intervalMs; performance.now() < end;);
  })
  await pinged(c, 3)
  t.notOk(c.socket.destroyed, 'the pong waiting to be read was read before the heartbeat judged')
  c.socket.destroy()
  await stillServes(t, s)
})

/** A server pinging every 100 ms with a program that does not read its stdin until SIGUSR1. */
const SLEEPY = (bytes: number, ...rest: string[]): string => `pingInterval: 100ms
routes:
  /sleepy:
    command: ${node('sleep-stdin.mjs', String(bytes), ...rest)}
    closeGrace: 100ms
    killGrace: 100ms
  /echo:
    command: [cat]
`
/** Data frames enough to fill the program's pipe, the server's input buffer and the socket. */
const FLOOD = Array.from({ length: 64 }, () => frame(0x1, Buffer.alloc(65_535, 0x61)))
/** What the program reads of them: each message and its newline. */
const FLOOD_BYTES = 64 * 65_536

/**
 * A raw client on /sleepy that answers pings (each pong written after what it sent before) and
 * floods the program's stdin; its session once input is paused.
 */
async function paused (t: Test, s: TestServer): Promise<{ c: RawConnection, session: Session, answers: { stop: () => void } }> {
  const c = await rawUpgrade(s.port, '/sleepy')
  const answers = answer(c)
  await until(() => c.received().includes('ready') || c.socket.destroyed, 'the program to be ready')
  const [session] = s.app.wsexec.sessions as Set<Session>
  if (session === undefined) throw new Error('no session')
  const inputPaused = watchFlow(t).next('input-paused', session.id)
  for (const f of FLOOD) c.socket.write(f)
  await inputPaused
  t.equal(session.inputPaused, true, 'input is paused: the program does not read')
  return { c, session, answers }
}

t.test('a client whose input is paused is not dropped: its pongs wait behind its data', async (t) => {
  const s = await startServer(t, SLEEPY(FLOOD_BYTES, 'exit'))
  const { c, session } = await paused(t, s)
  await pinged(c, pingsIn(c.received()) + 4)
  t.equal(session.inputPaused, true, 'four heartbeats while paused, and still connected')
  const resumed = watchFlow(t).next('input-resumed', session.id)
  process.kill(session.pid as number, 'SIGUSR1')
  await resumed
  await c.closed
  t.equal(closeCodeOf(c.received()), 1000, 'the session ends when the program ends')
  t.ok(c.received().includes(String(FLOOD_BYTES)), 'the program got every byte')
  t.match(await session.done, { exitCode: 0, closeCode: 1000, closedBy: 'server' })
  await stillServes(t, s)
})

t.test('once input resumes, a client that answers no ping is dropped again', async (t) => {
  const s = await startServer(t, SLEEPY(FLOOD_BYTES))
  const { c, session, answers } = await paused(t, s)
  await pinged(c, pingsIn(c.received()) + 3)
  answers.stop()
  process.kill(session.pid as number, 'SIGUSR1')
  await c.closed
  t.ok(c.received().includes(String(FLOOD_BYTES)), 'its input was read after the pause')
  t.match(await session.done, { closeCode: 1001, closedBy: 'server' })
  t.ok(s.logs.some((r) => r.msg === 'session end' && r['closeCode'] === 1001), 'peer not responding')
  await stillServes(t, s)
})

t.test('a client that vanishes while its input is paused does not hold the session', async (t) => {
  const s = await startServer(t, SLEEPY(FLOOD_BYTES))
  const { c, session, answers } = await paused(t, s)
  answers.stop()
  // A reset, not a close: the server, which does not read, learns of it by its next ping.
  c.socket.resetAndDestroy()
  t.match(await session.done, { closedBy: 'client' })
  t.notOk(isRunning(session.pid as number), 'the program was ended')
  await stillServes(t, s)
})

t.test('a message over the route limit closes with 1009', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/small`)
  await c.opened
  c.ws.send('1234')
  t.same(await c.received(1), ['1234'])
  c.ws.send('12345')
  t.same(await c.closed, { code: 1009, reason: 'message too big' })
  t.equal(c.messages.length, 1, 'the large message never reached the program')
  await stillServes(t, s)
})
