import { pino } from 'pino'
import t from 'tap'
import type { Close } from '../../src/close-codes.js'
import { parseConfig, type Route } from '../../src/config/load.js'
import type { Connection, ConnectionListener } from '../../src/session/connection.js'
import { Session } from '../../src/session/session.js'
import type { SessionStreams } from '../../src/session/streams.js'
import type { WatchdogLimits } from '../../src/session/watchdog.js'
import { Lines } from '../../src/session/wire/lines.js'
import { until } from '../helpers/client.js'
import { isRunning } from '../helpers/processes.js'
import { decodeFrames } from '../helpers/receiver.js'
import { fixture, logSink, type LogRecord } from '../helpers/server.js'

const STREAMS: SessionStreams = { channel: null, stdin: true, stdout: true, stderr: true, size: { cols: 80, rows: 24 } }

/**
 * A client side without ws or a socket: it records what the session sends and closes, and the
 * test plays the client through the listener. `full` makes every send report a full socket.
 */
class FakeConnection implements Connection {
  listener: ConnectionListener | undefined
  readonly frames: Buffer[] = []
  readonly closes: Close[] = []
  readonly drains: Array<() => void> = []
  watched: { limits: WatchdogLimits, expire: (close: Close) => void } | undefined
  full = false
  closed = false
  terminated = false
  pauses = 0
  readonly buffered = { toClient: 0, fromClient: 0 }
  get writableLength (): number { return this.buffered.toClient }

  start (listener: ConnectionListener): void { this.listener = listener }
  send (frames: Buffer): boolean {
    this.frames.push(frames)
    return !this.full
  }

  whenDrained (callback: () => void): void { this.drains.push(callback) }
  close (close: Close): void { this.closes.push(close) }
  terminate (): void { this.terminated = true }
  pause (): void { this.pauses++ }
  resume (): void {}
  watch (limits: WatchdogLimits, expire: (close: Close) => void): void { this.watched = { limits, expire } }

  /** The text messages sent so far. */
  get messages (): string[] {
    return decodeFrames(Buffer.concat(this.frames)).map((m) => m.data.toString())
  }

  /** The client answers the close (or leaves) with `code`. */
  clientClosed (code: number): void {
    this.closed = true
    this.listener?.closed(code)
  }
}

function routeOf (yaml: string): Route {
  return parseConfig(`routes:\n  /r:\n${yaml}`, 'test.yaml', '/').routes[0] as Route
}

function pipe (route: Route, file: string, args: string[], extra: { watchdog?: WatchdogLimits, env?: Record<string, string> } = {}) {
  const connection = new FakeConnection()
  const records: LogRecord[] = []
  const session = new Session({
    id: 'fake',
    route,
    file,
    args,
    connection,
    log: pino(logSink(records)),
    remoteAddress: '192.0.2.1',
    streams: STREAMS,
    requestPath: '/r',
    lines: new Lines(),
    ...extra,
    env: { PATH: process.env['PATH'] ?? '', ...extra.env }
  })
  return { connection, session, records }
}

t.test('messages in, lines out; the client leaving ends the program', async (t) => {
  const { connection, session } = pipe(routeOf('    command: [cat]\n'), '/bin/cat', [])
  session.start()
  t.ok(isRunning(session.pid as number), 'the program runs')
  connection.listener?.message(Buffer.from('one'), false)
  connection.listener?.message(Buffer.from('two'), false)
  await until(() => connection.messages.length === 2, 'both lines back')
  t.same(connection.messages, ['one', 'two'])
  t.equal(connection.watched, undefined, 'no watchdog asked for')
  connection.clientClosed(1000)
  const summary = await session.done
  t.match(summary, { closedBy: 'client', closeCode: 1000, exitCode: 0, in: { messages: 2, bytes: 6 }, out: { messages: 2, bytes: 6 } })
  t.same(connection.closes, [], 'nothing sent to a client that left')
})

t.test('the program\'s exit becomes the close; the session ends once the client answers', async (t) => {
  const { connection, session } = pipe(routeOf('    command: [node, exit.mjs]\n'), process.execPath, [fixture('exit.mjs'), 'bye'], { env: { WSEXEC_TEST_EXIT: '3' } })
  session.start()
  await until(() => connection.closes.length === 1, 'the close')
  t.same(connection.messages, ['bye'], 'the output before the close')
  t.same(connection.closes, [{ code: 4003, reason: 'exit 3' }])
  let done = false
  session.done.then(() => { done = true }, () => {})
  // The close is sent once the program has exited: only the connection is left open.
  await new Promise(setImmediate)
  t.notOk(done, 'not done before the connection is closed')
  connection.clientClosed(4003)
  t.match(await session.done, { closedBy: 'server', closeCode: 4003, exitCode: 3 })
})

t.test('a full connection pauses the program\'s output until it drains', async (t) => {
  const { connection, session } = pipe(routeOf('    command: [node, flood.mjs]\n    stderr: discard\n'), process.execPath, [fixture('flood.mjs')])
  connection.full = true
  session.start()
  await until(() => connection.drains.length > 0, 'the session to wait for a drain')
  const sent = connection.frames.length
  connection.full = false
  for (const drained of connection.drains.splice(0)) drained()
  await until(() => connection.frames.length > sent, 'output to flow again after the drain')
  connection.clientClosed(1000)
  t.match(await session.done, { closedBy: 'client' })
})

t.test('a program that cannot start closes with 1011', async (t) => {
  const { connection, session, records } = pipe(routeOf('    command: [cat]\n'), '/nonexistent/program', [])
  session.start()
  await session.settled
  t.equal(session.pid, undefined)
  t.same(connection.closes, [{ code: 1011, reason: 'spawn failed: ENOENT' }])
  t.ok(records.some((r) => r.msg === 'spawn failed'), 'logged')
  connection.clientClosed(1011)
  t.match(await session.done, { spawnError: 'ENOENT', closeCode: 1011 })
})

t.test('protocol errors, oversized messages and the watchdog close through the connection', async (t) => {
  const limits = { idleTimeoutMs: 1000, maxLifetimeMs: 0, pingIntervalMs: 0 }
  const a = pipe(routeOf('    command: [cat]\n    maxMessageBytes: 4\n'), '/bin/cat', [], { watchdog: limits })
  a.session.start()
  t.same(a.connection.watched?.limits, limits, 'the watchdog gets the limits')
  a.connection.listener?.message(Buffer.from('12345'), false)
  t.same(a.connection.closes, [{ code: 1009, reason: 'message too big' }])
  a.connection.clientClosed(1009)
  t.match(await a.session.done, { closedBy: 'server', closeCode: 1009 })

  const b = pipe(routeOf('    command: [cat]\n'), '/bin/cat', [], { watchdog: limits })
  b.session.start()
  b.connection.listener?.protocolError({ code: 1002, reason: 'invalid opcode 3' })
  b.connection.watched?.expire({ code: 1000, reason: 'idle timeout' })
  t.same(b.connection.closes, [{ code: 1002, reason: 'invalid opcode 3' }], 'one close only')
  b.connection.clientClosed(1006)
  t.match(await b.session.done, { closedBy: 'server', closeCode: 1002 })

  const c = pipe(routeOf('    command: [cat]\n'), '/bin/cat', [], { watchdog: limits })
  c.session.start()
  c.connection.watched?.expire({ code: 1000, reason: 'idle timeout' })
  t.same(c.connection.closes, [{ code: 1000, reason: 'idle timeout' }])
  c.connection.clientClosed(1000)
  t.match(await c.session.done, { closedBy: 'server', closeCode: 1000 })
})
