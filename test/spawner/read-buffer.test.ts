import { spawnSync } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Socket } from 'node:net'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { FLOW_CHANNEL, type FlowEvent } from '../../src/session/flow.js'
import type { Session } from '../../src/session/session.js'
import { ReadBuffer } from '../../src/spawner/read-buffer.js'
import { connect, until, type Client } from '../helpers/client.js'
import { fixture, logSink, node, startServer, type LogRecord, type TestServer } from '../helpers/server.js'

// Every program output pipe a server's spawners hand over is read into one buffer, overwritten by
// the next read of any session: these fail if anything on the way to the client (or the log) kept
// a reference to a chunk after the session was told about it. Programs write at once, in writes
// that split lines and UTF-8 characters anywhere: a slow client's program writes without end and
// its client reads nothing until the server has stopped reading that program (its frames wait in
// the server) and a second session has delivered everything; a third client leaves at once, its
// program's output read and dropped meanwhile. The slow client then reads on, and closes.

/** Bytes the fast session's program and the leaving one's write to each of their streams. */
const BYTES = '1000000'

interface Expected { stdout: Buffer, stderr: Buffer }

/** What pattern.mjs writes for these arguments, run once more. */
function expected (...args: string[]): Expected {
  const run = spawnSync(process.execPath, [fixture('pattern.mjs'), ...args], { maxBuffer: 256 * 1024 * 1024 })
  return { stdout: run.stdout, stderr: run.stderr }
}

/** The text messages of `bytes`: one per line, a line longer than `max` bytes cut at character boundaries. */
function lines (bytes: Buffer, max = Infinity): string[] {
  const out: string[] = []
  let start = 0
  for (let nl = bytes.indexOf(10); nl !== -1; start = nl + 1, nl = bytes.indexOf(10, start)) {
    let line = bytes.subarray(start, nl)
    while (line.length > max) {
      let cut = max
      while (((line[cut] as number) & 0xc0) === 0x80) cut--
      out.push(line.subarray(0, cut).toString('utf8'))
      line = line.subarray(cut)
    }
    out.push(line.toString('utf8'))
  }
  return out
}

interface Run {
  server: TestServer
  slow: Client
  fast: Client
  slowSession: Session
  fastSession: Session
  /** Stdout bytes the slow session sent: its program's output up to there is expected. */
  slowBytes: number
}

/** The session opened last. */
function newest (s: TestServer, known: readonly Session[]): Session {
  return [...s.app.wsexec.sessions].find((session) => !known.includes(session)) as Session
}

/** Routes /p1 (endless), /p2, /p3 running pattern.mjs with seeds 1, 2, 3, stderr with `stderr`, and `options`. */
function routes (options: string, stderr = false): string {
  return ['endless', BYTES, BYTES].map((bytes, i) => {
    const args = [String(i + 1), bytes, ...(stderr ? [BYTES] : [])]
    return `/p${i + 1}:\n  command: ${node('pattern.mjs', ...args)}\n  closeGrace: 100ms\n  killGrace: 100ms\n${options}`
  }).join('')
}

/** Two sessions (seeds 1 and 2) and one whose client leaves at once (seed 3), as told above. */
async function run (t: Test, yaml: string, protocols: string[] = [], query = ''): Promise<Run> {
  const server = await startServer(t, yaml)
  const seen = new Set<string>()
  const onFlow = (message: unknown): void => {
    const e = message as FlowEvent
    seen.add(`${e.session} ${e.event}`)
  }
  subscribe(FLOW_CHANNEL, onFlow)
  t.teardown(() => unsubscribe(FLOW_CHANNEL, onFlow))
  const slow = connect(`${server.url}/p1${query}`, {}, protocols)
  await slow.opened
  slow.ws.pause()
  const slowSession = newest(server, [])
  const gone = connect(`${server.url}/p3${query}`, {}, protocols)
  await gone.opened
  const goneSession = newest(server, [slowSession])
  gone.ws.terminate()
  const fast = connect(`${server.url}/p2${query}`, {}, protocols)
  await fast.opened
  const fastSession = newest(server, [slowSession, goneSession])
  t.equal((await fast.closed).code, 1000, 'the fast session ends normally')
  await until(() => seen.has(`${slowSession.id} output-paused`), 'the slow session\'s output paused')
  slow.ws.resume()
  // Its frames held in the server are all written out: it reads its program again.
  await until(() => seen.has(`${slowSession.id} output-resumed`), 'the slow session\'s output resumed')
  slow.ws.close()
  await slow.closed
  const [summary] = await Promise.all([slowSession.done, fastSession.done, goneSession.done])
  t.notOk(server.logs.some((r) => r.msg === 'shared read buffer off'), 'the read buffer is used')
  return { server, slow, fast, slowSession, fastSession, slowBytes: summary.out.bytes }
}

/** Where `got` and `want` differ first (-1: nowhere): large lists compared without a diff of everything. */
function firstDifference (got: readonly unknown[], want: readonly unknown[]): number {
  for (let i = 0; i < Math.max(got.length, want.length); i++) if (got[i] !== want[i]) return i
  return -1
}

/** `got` is `want`, item by item. */
function same (t: Test, got: readonly unknown[], want: readonly unknown[], what: string): void {
  t.equal(firstDifference(got, want), -1, `${what} (${got.length} of ${want.length})`)
}

/** `got` is the start of `want`, and not empty. */
function startsWith (t: Test, got: readonly unknown[], want: readonly unknown[], what: string): void {
  t.ok(got.length > 0, `${what}: some came`)
  same(t, got, want.slice(0, got.length), what)
}

/** What the slow session's program wrote, at least as far as `bytes` of payload (more than its frames carried). */
function slowExpected (bytes: number, stderr = false): Expected {
  return expected('1', String(2 * bytes + 100_000), ...(stderr ? [BYTES] : []))
}

t.test('text mode: every line of both sessions, byte-exact', async (t) => {
  const r = await run(t, routes(''))
  same(t, r.fast.messages, lines(expected('2', BYTES).stdout), 'the fast session: every line')
  startsWith(t, r.slow.messages, lines(slowExpected(r.slowBytes).stdout), 'the slow session: every line')
})

t.test('text mode with maxLineBytes: long lines cut, unfinished lines held across reads', async (t) => {
  const r = await run(t, routes('  maxLineBytes: 100\n'))
  same(t, r.fast.messages, lines(expected('2', BYTES).stdout, 100), 'the fast session: every piece')
  startsWith(t, r.slow.messages, lines(slowExpected(r.slowBytes).stdout, 100), 'the slow session: every piece')
})

t.test('binary mode: every byte of both sessions', async (t) => {
  const r = await run(t, routes('  mode: binary\n'))
  t.ok(Buffer.concat(r.fast.messages as Buffer[]).equals(expected('2', BYTES).stdout), 'the fast session: every byte')
  const got = Buffer.concat(r.slow.messages as Buffer[])
  t.ok(got.length > 0 && got.equals(slowExpected(r.slowBytes).stdout.subarray(0, got.length)), `the slow session: every byte (${got.length})`)
})

t.test('tagged stderr: both streams of both sessions, line by line', async (t) => {
  const r = await run(t, routes('  stderr: tagged\n', true))
  const stream = (c: Client, name: string): string[] => (c.messages as string[]).map((m) => JSON.parse(m) as { stream: string, data: string }).filter((m) => m.stream === name).map((m) => m.data)
  const fast = expected('2', BYTES, BYTES)
  same(t, stream(r.fast, 'stdout'), lines(fast.stdout), 'the fast session: stdout')
  same(t, stream(r.fast, 'stderr'), lines(fast.stderr), 'the fast session: stderr')
  const slow = slowExpected(r.slowBytes, true)
  startsWith(t, stream(r.slow, 'stdout'), lines(slow.stdout), 'the slow session: stdout')
  startsWith(t, stream(r.slow, 'stderr'), lines(slow.stderr), 'the slow session: stderr')
})

t.test('Kubernetes channels: both streams of both sessions, byte-exact', async (t) => {
  const r = await run(t, routes('  protocols: [v5.channel.k8s.io]\n', true), ['v5.channel.k8s.io'], '?stdout=true&stderr=true')
  const on = (c: Client, channel: number): Buffer => Buffer.concat((c.messages as Buffer[]).filter((m) => m[0] === channel).map((m) => m.subarray(1)))
  const fast = expected('2', BYTES, BYTES)
  t.ok(on(r.fast, 1).equals(fast.stdout), 'the fast session: every byte of stdout')
  t.ok(on(r.fast, 2).equals(fast.stderr), 'the fast session: every byte of stderr')
  const slow = slowExpected(r.slowBytes, true)
  for (const [channel, want] of [[1, slow.stdout], [2, slow.stderr]] as const) {
    const got = on(r.slow, channel)
    t.ok(got.length > 0 && got.equals(want.subarray(0, got.length)), `the slow session: every byte on channel ${channel} (${got.length})`)
  }
})

t.test('stderr logged: every stderr line in the log, stdout to the client', async (t) => {
  const r = await run(t, routes('  stderr: log\n', true))
  const logged = (session: Session): unknown[] => r.server.logs.filter((l) => l.msg === 'program stderr' && l['session'] === session.id).map((l) => l['stderr'])
  const fast = expected('2', BYTES, BYTES)
  same(t, r.fast.messages, lines(fast.stdout), 'the fast session: stdout')
  same(t, logged(r.fastSession), lines(fast.stderr), 'the fast session: every stderr line logged')
  const slow = slowExpected(r.slowBytes, true)
  startsWith(t, r.slow.messages, lines(slow.stdout), 'the slow session: stdout')
  startsWith(t, logged(r.slowSession), lines(slow.stderr), 'the slow session: stderr lines logged')
})

t.test('a socket without the shape the read buffer relies on is kept as it is, and that is logged once', async (t) => {
  const records: LogRecord[] = []
  const reads = new ReadBuffer(pino(logSink(records)), 16)
  // A socket without a handle: as a Node whose sockets keep their handle elsewhere.
  const sockets = [new Socket(), new Socket()]
  t.teardown(() => { for (const s of sockets) s.destroy() })
  for (const socket of sockets) t.equal(reads.adopt(socket), socket, 'the same socket')
  t.match(records, [{ msg: 'shared read buffer off', reason: /_handle\.readStop/ }], 'one warning')
})
