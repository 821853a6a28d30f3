import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { pino } from 'pino'
import t from 'tap'
import type { Close } from '../../src/close-codes.js'
import { parseConfig, type Route } from '../../src/config/load.js'
import type { Connection, ConnectionListener } from '../../src/session/connection.js'
import { Session } from '../../src/session/session.js'
import type { SessionStreams } from '../../src/session/streams.js'
import { Lines } from '../../src/session/wire/lines.js'
import { SpawnerPool, type ProgramStarter, type StartOutcome } from '../../src/spawner/pool.js'
import { RemoteProgram } from '../../src/spawner/remote.js'
import { DEADLINE_MS, until } from '../helpers/client.js'
import { readyPool } from '../helpers/pool.js'
import { isRunning } from '../helpers/processes.js'
import { fixture, logSink, type LogRecord } from '../helpers/server.js'

// A session whose program a spawner starts, seen from the session's side: what happens when the
// answer comes late, never, or after the client left.

const STREAMS: SessionStreams = { channel: null, stdin: true, stdout: true, stderr: true, size: { cols: 80, rows: 24 } }

/** A client side without ws: records the closes; the test plays the client. */
class FakeConnection implements Connection {
  listener: ConnectionListener | undefined
  readonly closes: Close[] = []
  closed = false
  terminated = false
  readonly buffered = { toClient: 0, fromClient: 0 }
  get writableLength (): number { return 0 }
  start (listener: ConnectionListener): void { this.listener = listener }
  send (): boolean { return true }
  whenDrained (): void {}
  close (close: Close): void { this.closes.push(close) }
  terminate (): void { this.terminated = true }
  pause (): void {}
  resume (): void {}
  watch (): void {}
  clientClosed (code: number): void {
    this.closed = true
    this.listener?.closed(code)
  }
}

function routeOf (yaml: string): Route {
  return parseConfig(`routes:\n  /r:\n${yaml}`, 'test.yaml', '/').routes[0] as Route
}

function sessionWith (starter: ProgramStarter, file = process.execPath, args = [fixture('grandchild.mjs')]) {
  const connection = new FakeConnection()
  const records: LogRecord[] = []
  const session = new Session({
    id: 'fake',
    route: routeOf(`    command: [${JSON.stringify(file)}]\n    killGrace: 200ms\n    closeGrace: 100ms\n`),
    file,
    args,
    connection,
    log: pino(logSink(records)),
    remoteAddress: '192.0.2.1',
    streams: STREAMS,
    requestPath: '/r',
    lines: new Lines(),
    env: { PATH: process.env['PATH'] ?? '' },
    starter
  })
  return { connection, session, records }
}

/** A starter whose answer the test gives, and that records the abort signal it was given. */
function manualStarter () {
  let answer!: (outcome: StartOutcome) => void
  let signal: AbortSignal | undefined
  const starter: ProgramStarter = {
    inFlight: 0,
    async spawn (_spec, s) {
      signal = s
      return new Promise((resolve) => { answer = resolve })
    }
  }
  return { starter, answer: (o: StartOutcome) => answer(o), get signal () { return signal as AbortSignal } }
}

t.test('a client gone before its start was sent: the start is aborted, the session ends without a program', async (t) => {
  const m = manualStarter()
  const { connection, session } = sessionWith(m.starter)
  session.start()
  connection.clientClosed(1001)
  t.ok(m.signal.aborted, 'the start is called off')
  m.answer({ cancelled: true })
  const summary = await session.done
  t.match(summary, { exitCode: null, spawnError: null, closedBy: 'client', closeCode: 1001 })
  t.same(connection.closes, [], 'nothing is sent to a client that left')
})

t.test('a spawner lost before it answered: 1011 spawner lost', async (t) => {
  const m = manualStarter()
  const { connection, session, records } = sessionWith(m.starter)
  session.start()
  m.answer({ lost: true })
  await until(() => connection.closes.length > 0, 'the close')
  t.same(connection.closes, [{ code: 1011, reason: 'spawner lost' }])
  connection.clientClosed(1011)
  t.match(await session.done, { exitCode: null, closeCode: 1011 })
  t.ok(records.some((r) => r.msg === 'spawner lost'), 'logged')
})

t.test('a start the spawner could not make: 1011 spawn failed: CODE', async (t) => {
  const m = manualStarter()
  const { connection, session } = sessionWith(m.starter)
  session.start()
  m.answer({ error: { code: 'EAGAIN', message: 'no processes left' } })
  await until(() => connection.closes.length > 0, 'the close')
  t.same(connection.closes, [{ code: 1011, reason: 'spawn failed: EAGAIN' }])
  connection.clientClosed(1011)
  t.match(await session.done, { spawnError: 'EAGAIN' })
})

/** A pool of one spawner, ready, and stopped (SIGSTOP): what is sent to it is answered once the test lets it go on. */
async function stoppedPool (t: { teardown: (fn: () => unknown) => void }): Promise<{ pool: SpawnerPool, resume: () => void }> {
  const { pool, pid } = await readyPool(t)
  process.kill(pid, 'SIGSTOP')
  const resume = (): void => { try { process.kill(pid, 'SIGCONT') } catch {} }
  t.teardown(resume)
  return { pool, resume }
}

t.test('a session killed (and then left) while its program was starting: the program is killed as soon as it runs', async (t) => {
  const { pool, resume } = await stoppedPool(t)
  const { connection, session, records } = sessionWith(pool)
  session.start()
  t.equal(pool.inFlight, 1, 'the start is sent')
  session.kill()
  connection.clientClosed(1006)
  resume()
  const summary = await session.done
  t.match(summary, { signal: 'SIGKILL', closeCode: 1001 }, 'SIGKILL at once, not SIGTERM')
  const pid = records.find((r) => r.msg === 'session start')?.['childPid'] as number
  t.notOk(isRunning(pid), 'the program is gone')
})

t.test('a session ended by the server while its program was starting: the program gets SIGTERM as soon as it runs', async (t) => {
  const { pool, resume } = await stoppedPool(t)
  const { connection, session } = sessionWith(pool)
  session.start()
  session.shutdown()
  t.same(connection.closes, [{ code: 1001, reason: 'server shutting down' }])
  connection.clientClosed(1001)
  resume()
  t.match(await session.done, { signal: 'SIGTERM' })
})

t.test('a session killed before any spawner was ready: the start is never sent', async (t) => {
  const pool = new SpawnerPool(1, pino({ level: 'silent' }))
  t.teardown(() => pool.close())
  const { connection, session, records } = sessionWith(pool)
  session.start()
  session.kill()
  connection.clientClosed(1006)
  t.match(await session.done, { exitCode: null, signal: null })
  t.notOk(records.some((r) => r.msg === 'session start'), 'no program')
})

t.test('a client gone after its start was sent: the program runs, reads end of input and exits by itself', async (t) => {
  const { pool, resume } = await stoppedPool(t)
  const { connection, session } = sessionWith(pool, '/bin/cat', [])
  session.start()
  connection.clientClosed(1000)
  resume()
  t.match(await session.done, { exitCode: 0, signal: null, closedBy: 'client' }, 'as without spawners: EOF, then closeGrace')
})

t.test('left by its client, then shut down, then killed while starting: the strongest end wins', async (t) => {
  const { pool, resume } = await stoppedPool(t)
  const { connection, session } = sessionWith(pool)
  session.start()
  connection.clientClosed(1006)
  session.shutdown()
  session.kill()
  session.shutdown()
  resume()
  t.match(await session.done, { signal: 'SIGKILL' })
})

t.test('pipes read from their arrival (the read buffer off) that ended before the session watches them: the session still ends', async (t) => {
  const m = manualStarter()
  const { connection, session } = sessionWith(m.starter)
  session.start()
  const child = spawn('true', [], { stdio: ['pipe', 'pipe', 'pipe'] })
  const stdout = child.stdout as Socket
  const stderr = child.stderr as Socket
  const signal = AbortSignal.timeout(DEADLINE_MS)
  stdout.resume()
  stderr.resume()
  await Promise.all([once(stdout, 'end', { signal }), once(stderr, 'end', { signal }), once(child, 'exit', { signal })])
  const program = new RemoteProgram(child.pid as number, [child.stdin as Socket, stdout, stderr], () => {})
  program.tell('exit', 0, null)
  m.answer({ program })
  await until(() => connection.closes.length > 0, 'the close')
  t.same(connection.closes, [{ code: 1000, reason: 'exit 0' }])
  connection.clientClosed(1000)
  t.match(await session.done, { exitCode: 0, closeCode: 1000 })
})
