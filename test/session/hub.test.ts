import { pino } from 'pino'
import t from 'tap'
import type { Close } from '../../src/close-codes.js'
import { parseConfig, type Route } from '../../src/config/load.js'
import { Attachment } from '../../src/session/attachment.js'
import type { Connection, ConnectionListener } from '../../src/session/connection.js'
import { Hub, type HubHooks } from '../../src/session/hub.js'
import type { SessionSummary } from '../../src/session/session.js'
import type { SessionStreams } from '../../src/session/streams.js'
import { Lines } from '../../src/session/wire/lines.js'
import type { ProgramStarter, StartOutcome } from '../../src/spawner/pool.js'
import { until } from '../helpers/client.js'
import { isRunning } from '../helpers/processes.js'
import { fixture, logSink, type LogRecord } from '../helpers/server.js'

// The program endpoint of shared routes, driven through fake connections whose backpressure the
// test decides: pacing, catching up, the final flush, and the program's failures.

const STREAMS: SessionStreams = { channel: null, stdin: true, stdout: true, stderr: true, size: { cols: 80, rows: 24 } }

/** A client side without ws: `full` decides what send answers; the test drains it. */
class FakeConnection implements Connection {
  listener: ConnectionListener | undefined
  readonly closes: Close[] = []
  readonly written: Buffer[] = []
  full: () => boolean = () => false
  drains: Array<() => void> = []
  closed = false
  terminated = false
  paused = false
  readonly buffered = { toClient: 0, fromClient: 0 }
  get writableLength (): number { return 7 }
  start (listener: ConnectionListener): void { this.listener = listener }
  send (frames: Buffer): boolean { this.written.push(Buffer.from(frames)); return !this.full() }
  whenDrained (callback: () => void): void { this.drains.push(callback) }
  close (close: Close): void { this.closes.push(close) }
  terminate (): void { this.terminated = true; this.clientClosed(1006) }
  pause (): void { this.paused = true }
  resume (): void { this.paused = false }
  expire: ((close: Close) => void) | undefined
  watch (_limits: unknown, expire: (close: Close) => void): void { this.expire = expire }
  drain (): void { const d = this.drains; this.drains = []; for (const f of d) f() }
  clientClosed (code: number): void {
    if (this.closed) return
    this.closed = true
    this.listener?.closed(code)
  }

  /** The text payloads of every frame written (server frames: unmasked, short). */
  texts (): string[] {
    const all = Buffer.concat(this.written)
    const out: string[] = []
    let at = 0
    while (at < all.length) {
      let length = (all[at + 1] as number) & 0x7f
      let start = at + 2
      if (length === 126) { length = all.readUInt16BE(at + 2); start = at + 4 }
      out.push(all.subarray(start, start + length).toString())
      at = start + length
    }
    return out
  }
}

function routeOf (share: string, command: string[], extra: string): Route {
  return parseConfig(`routes:\n  /r:\n    command: ${JSON.stringify(command)}\n    killGrace: 200ms\n    closeGrace: 100ms\n    share: { ${share} }\n${extra}`, 'test.yaml', '/').routes[0] as Route
}

function hubOf (share: string, args: string[], starter?: ProgramStarter, extra = '') {
  const route = routeOf(share, [process.execPath], extra)
  const records: LogRecord[] = []
  const ended: SessionSummary[] = []
  const hooks: HubHooks = {
    started: () => {},
    ended: (_c, summary) => { ended.push(summary) },
    closed: () => {},
    sharedClient: () => {},
    sharedProgram: () => {},
    inputDropped: () => {}
  }
  const hub = new Hub({
    program: { route, file: process.execPath, args, env: { PATH: process.env['PATH'] ?? '' }, streams: STREAMS, lines: new Lines(), starter },
    share: route.share as NonNullable<Route['share']>,
    log: pino({ level: 'debug' }, logSink(records)),
    requestPath: '/r',
    watchdog: { idleTimeoutMs: 0, maxLifetimeMs: 0, pingIntervalMs: 0 },
    hooks
  })
  let n = 0
  const client = (): { connection: FakeConnection, attachment: Attachment } => {
    const connection = new FakeConnection()
    const attachment = new Attachment(`c${n++}`, route, connection, '192.0.2.1', hub)
    hub.attach(attachment)
    return { connection, attachment }
  }
  return { hub, client, records, ended }
}

const LINES = 30_000
const expected = Array.from({ length: LINES }, (_, i) => `y ${i}`)

t.test('every client behind: the program is paused; each catches up on drain; nothing lost or doubled', async (t) => {
  const { hub, client } = hubOf('maxLag: 100MiB', [fixture('yes.mjs'), String(LINES)])
  const a = client()
  const b = client()
  a.connection.full = () => true
  b.connection.full = () => true
  hub.start()
  // Drained from the outside, as a socket would, while both stay slow: b less often, so that it
  // has output to catch up on.
  let round = 0
  const timer = setInterval(() => { a.connection.drain(); if (round++ % 5 === 0) b.connection.drain() }, 1)
  t.teardown(() => clearInterval(timer))
  await until(() => a.connection.closes.length > 0 && b.connection.closes.length > 0, 'the exit')
  clearInterval(timer)
  t.same(a.connection.texts(), expected)
  t.same(b.connection.texts(), expected)
  t.same(a.connection.closes, [{ code: 1000, reason: 'exit 0' }])
  a.connection.clientClosed(1000)
  b.connection.clientClosed(1000)
  await a.attachment.done
})

t.test('a client still behind at the exit gets the rest before the close', async (t) => {
  const { hub, client, ended } = hubOf('maxLag: 100MiB', [fixture('yes.mjs'), String(LINES)])
  const fast = client()
  const slow = client()
  slow.connection.full = () => true
  hub.start()
  await until(() => slow.connection.closes.length > 0, 'the exit')
  t.same(slow.connection.texts(), expected, 'the rest was written, then the close')
  t.same(fast.connection.texts(), expected)
  slow.connection.drain()
  slow.connection.clientClosed(1000)
  fast.connection.clientClosed(1000)
  await slow.attachment.done
  t.match(ended, [{ exitCode: 0, closeCode: 1000 }, { exitCode: 0, closeCode: 1000 }])
})

t.test('every client gone while the program is paused: it is read on for the replay', async (t) => {
  const { hub, client, records } = hubOf('replay: 1KiB', [fixture('yes.mjs')])
  const a = client()
  a.connection.full = () => true
  hub.start()
  await until(() => a.connection.drains.length > 0, 'the client behind')
  a.connection.clientClosed(1001)
  t.match(await a.attachment.done, { detached: true, exitCode: null, closeCode: 1001, closedBy: 'client' })
  await until(() => records.some((r) => r.msg === 'shared program end'), 'the end once the linger (0s) is over')
  t.equal(hub.closed, true)
})

t.test('input backpressure pauses every client, and a joining one; end from a protocol error, a silent client dropped at shutdown', async (t) => {
  const { hub, client } = hubOf('input: all', [fixture('sleep-stdin.mjs'), '100000000'])
  hub.start()
  const a = client()
  await until(() => a.connection.texts().includes('ready'), 'the start')
  for (let i = 0; i < 64; i++) a.connection.listener?.message(Buffer.alloc(16_384, 0x61), true)
  await until(() => a.connection.paused, 'input paused')
  t.equal(a.attachment.inputPaused, true)
  t.ok(a.attachment.bufferedBytes().toProgram > 0)
  t.equal(a.attachment.bufferedBytes().toClient, 7)
  t.equal(a.attachment.pid, hub.pid)
  const b = client()
  t.equal(b.connection.paused, true, 'a client joining while input waits is paused too')
  b.connection.listener?.protocolError({ code: 1002, reason: 'bad frame' })
  b.connection.listener?.message(Buffer.from('late'), false)
  t.equal(b.connection.paused, false, 'a client that leaves is read again')
  b.connection.clientClosed(1002)
  t.match(await b.attachment.done, { closeCode: 1002, closedBy: 'server' })
  const pid = hub.pid as number
  process.kill(pid, 'SIGUSR1')
  await until(() => !a.connection.paused, 'input read again once the program reads')
  a.attachment.shutdown()
  t.same(a.connection.closes, [{ code: 1001, reason: 'server shutting down' }])
  await until(() => a.connection.terminated, 'the silent client dropped after killGrace')
  t.match(await a.attachment.done, { closeCode: 1001 })
  await until(() => !isRunning(pid), 'the program ended')
})

t.test('kill: SIGKILL and every connection dropped', async (t) => {
  const { hub, client } = hubOf('', [fixture('sleep-stdin.mjs'), '10'])
  hub.start()
  const a = client()
  await until(() => hub.pid !== undefined, 'the start')
  a.attachment.kill()
  t.equal(a.connection.terminated, true)
  t.match(await a.attachment.done, { signal: 'SIGKILL', closeCode: 1001 })
})

/** A starter whose answer the test gives. */
function manualStarter () {
  let answer!: (outcome: StartOutcome) => void
  const starter: ProgramStarter = {
    inFlight: 0,
    async spawn () {
      return new Promise((resolve) => { answer = resolve })
    }
  }
  return { starter, answer: (o: StartOutcome) => answer(o) }
}

t.test('a program that cannot start closes every client 1011, and one that comes later', async (t) => {
  const m = manualStarter()
  const { hub, client, records } = hubOf('', [fixture('exit.mjs')], m.starter)
  hub.start()
  const a = client()
  m.answer({ error: { code: 'ENOENT', message: 'no such file' } })
  await until(() => a.connection.closes.length > 0, 'the close')
  t.same(a.connection.closes, [{ code: 1011, reason: 'spawn failed: ENOENT' }])
  const b = client()
  t.same(b.connection.closes, [{ code: 1011, reason: 'spawn failed: ENOENT' }], 'a client of a failed program is closed at once')
  a.connection.clientClosed(1011)
  b.connection.clientClosed(1011)
  t.match(await a.attachment.done, { spawnError: 'ENOENT' })
  t.ok(records.some((r) => r.msg === 'spawn failed'))
})

t.test('a spawner lost: 1011 spawner lost', async (t) => {
  const m = manualStarter()
  const { hub, client, records } = hubOf('', [fixture('exit.mjs')], m.starter)
  hub.start()
  const a = client()
  m.answer({ lost: true })
  await until(() => a.connection.closes.length > 0, 'the close')
  t.same(a.connection.closes, [{ code: 1011, reason: 'spawner lost' }])
  a.connection.clientClosed(1011)
  await a.attachment.done
  t.ok(records.some((r) => r.msg === 'spawner lost'))
})

t.test('the watchdog closes one client (once); a message too big closes its sender 1009', async (t) => {
  const { hub, client } = hubOf('', [fixture('exit.mjs')], undefined, '    maxMessageBytes: 4\n')
  const a = client()
  const b = client()
  hub.start()
  a.connection.expire?.({ code: 1000, reason: 'idle timeout' })
  a.connection.expire?.({ code: 1000, reason: 'idle timeout' })
  t.same(a.connection.closes, [{ code: 1000, reason: 'idle timeout' }])
  b.connection.listener?.message(Buffer.from('too long'), false)
  t.same(b.connection.closes, [{ code: 1009, reason: 'message too big' }])
  a.connection.clientClosed(1000)
  b.connection.clientClosed(1009)
  await b.attachment.done
})

t.test('end of input from a writer ends stdin; stderr lines are logged', async (t) => {
  const { hub, client, records } = hubOf('input: all', [fixture('shared.mjs')], undefined, '    stderr: log\n')
  const a = client()
  hub.start()
  await until(() => a.connection.texts().length > 0, 'the start')
  a.connection.listener?.message(Buffer.from('hello'), false)
  a.connection.listener?.message(Buffer.alloc(0), true)
  await until(() => a.connection.texts().includes('eof'), 'the end of input')
  t.same(a.connection.texts().slice(1, 3), ['hello', 'eof'])
  a.connection.clientClosed(1000)
  await a.attachment.done
  const b = hubOf('', [fixture('stderr.mjs')], undefined, '    stderr: log\n')
  const c = b.client()
  b.hub.start()
  await until(() => b.records.some((r) => r.msg === 'program stderr'), 'the stderr line')
  c.connection.clientClosed(1000)
  await c.attachment.done
  t.ok(records.length > 0)
})
