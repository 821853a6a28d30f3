import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import t from 'tap'
import { connect, DEADLINE_MS, until, upgradeStatus, type Client } from '../helpers/client.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { childrenOf, isRunning } from '../helpers/processes.js'
import { node, startServer, type TestServer } from '../helpers/server.js'

// Shared routes (issue 25): one program per route and URL path, many clients.

const SHARED = `command: ${node('shared.mjs')}\n  closeGrace: 100ms\n  killGrace: 200ms\n`

function route (path: string, share: string, extra = ''): string {
  return `${path}:\n  ${SHARED}  share: { ${share} }\n${extra}`
}

/** Opens a client and waits for `pid N` (its replay, or the program's first line); returns the client and the pid. */
async function join (url: string): Promise<{ c: Client, pid: number }> {
  const c = connect(url)
  t.teardown(() => c.ws.terminate())
  const [first] = await c.received(1)
  return { c, pid: Number(String(first).split(' ')[1]) }
}

async function metrics (s: TestServer): Promise<ReturnType<typeof parseExposition>> {
  const res = await s.app.inject({ url: '/metrics' })
  return parseExposition(res.body)
}

/** Resolves with the messages once the client holds `count` from the index `from` on. */
async function next (c: Client, from: number, count: number): Promise<Array<string | Buffer>> {
  return (await c.received(from + count)).slice(from, from + count)
}

t.test('three clients find one program, each gets consecutive output; input first passes on; exit closes all', async (t) => {
  const s = await startServer(t, route('/echo', 'input: first, replay: 64KiB'))
  const a = await join(`${s.url}/echo`)
  const b = await join(`${s.url}/echo`)
  const c = await join(`${s.url}/echo`)
  t.equal(b.pid, a.pid, 'the second client sees the same program')
  t.equal(c.pid, a.pid, 'and so does the third')
  t.ok(isRunning(a.pid), 'the program is a real process')
  const programs = readdirPrograms()
  t.equal(programs.filter((pid) => pid === a.pid).length, 1)
  t.equal(programs.length, 1, 'one program process for three clients (by /proc)')
  const lines = Array.from({ length: 200 }, (_, i) => `m${i}`)
  for (const line of lines) a.c.ws.send(line)
  for (const x of [a, b, c]) t.same(await next(x.c, 1, 200), lines, 'every message, in order, no gap, no duplicate')
  b.c.ws.send('from b')
  a.c.ws.send('from a')
  for (const x of [a, b, c]) t.same(await next(x.c, 201, 1), ['from a'], 'only the oldest client writes')
  t.equal(valueOf(await metrics(s), 'wsexec_shared_input_dropped_total', { route: '/echo' }), 1, 'the dropped message is counted')
  t.equal(valueOf(await metrics(s), 'wsexec_shared_clients', { route: '/echo' }), 3)
  t.equal(valueOf(await metrics(s), 'wsexec_shared_programs', { route: '/echo' }), 1)
  t.equal(valueOf(await metrics(s), 'wsexec_sessions_active', { route: '/echo' }), 3, 'each client counts as a session')
  a.c.ws.close(1000)
  await a.c.closed
  await until(() => s.logs.some((r) => r.msg === 'shared client leave' && r['clients'] === 2), 'the leave')
  b.c.ws.send('b writes now')
  for (const x of [b, c]) t.same(await next(x.c, 202, 1), ['b writes now'], 'the next oldest writes once the first left')
  b.c.ws.send('exit 3')
  for (const x of [b, c]) t.match(await x.c.closed, { code: 4003, reason: 'exit 3' }, 'the exit closes every client with its code')
  await until(() => !isRunning(a.pid), 'the program gone')
  await until(() => s.logs.some((r) => r.msg === 'shared program end'), 'the end log')
  t.match(s.logs.find((r) => r.msg === 'shared program end'), { route: '/echo', path: '/echo', exitCode: 3 })
  t.equal(s.logs.filter((r) => r.msg === 'shared program start').length, 1)
  t.equal(s.logs.filter((r) => r.msg === 'shared client join').length, 3)
  await until(async () => valueOf(await metrics(s), 'wsexec_sessions_active', { route: '/echo' }) === 0, 'no session left')
  const samples = await metrics(s)
  t.equal(valueOf(samples, 'wsexec_shared_programs', { route: '/echo' }), 0)
  t.equal(valueOf(samples, 'wsexec_sessions_ended_total', { route: '/echo', outcome: 'detached' }), 1, 'the client that left')
  t.equal(valueOf(samples, 'wsexec_sessions_ended_total', { route: '/echo', outcome: 'exit_nonzero' }), 2, 'the clients the exit closed')
})

/** Pids of this test's running shared.mjs programs (by /proc). */
function readdirPrograms (): number[] {
  return childrenOf(process.pid).filter((p) => p.state !== 'Z' && cmdline(p.pid).includes('fixtures/shared.mjs')).map((p) => p.pid)
}

function cmdline (pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1')
  } catch {
    return ''
  }
}

t.test('replay: whole messages of the last replay bytes, then live; input all; none by default', async (t) => {
  // Each "line N" is an 8-byte frame: 20 bytes of replay hold the last two whole ones.
  const s = await startServer(t, route('/all', 'input: all, replay: 20') + route('/none', 'replay: 1KiB'))
  const a = await join(`${s.url}/all`)
  a.c.ws.send('lines 10')
  await next(a.c, 1, 10)
  const b = connect(`${s.url}/all`)
  t.teardown(() => b.ws.terminate())
  t.same(await b.received(2), ['line 8', 'line 9'], 'the replay')
  b.ws.send('b')
  a.c.ws.send('a')
  t.same((await b.received(4)).slice(2).sort(), ['a', 'b'], 'with input all, every client writes')
  t.same((await next(a.c, 11, 2)).sort(), ['a', 'b'])
  const n = await join(`${s.url}/none`)
  n.c.ws.send('dropped')
  n.c.ws.send(Buffer.alloc(0))
  const m = await join(`${s.url}/none`)
  t.equal(m.pid, n.pid)
  t.equal(valueOf(await metrics(s), 'wsexec_shared_input_dropped_total', { route: '/none' }), 2, 'input none drops every message, end of input too')
  t.equal(n.c.messages.length, 1, 'nothing reached the program')
  t.ok(s.logs.some((r) => r.msg === 'shared input dropped' && r.level === 20), 'logged at debug')
})

t.test('a stalled client is closed 1008 lagging while a fast one keeps receiving', async (t) => {
  const s = await startServer(t, `/flood:\n  command: ${node('flood.mjs', '1024')}\n  stderr: discard\n  killGrace: 200ms\n  share: { maxLag: 256KiB }\n`)
  const WebSocket = (await import('ws')).default
  const fast = new WebSocket(`${s.url}/flood`)
  t.teardown(() => fast.terminate())
  let received = 0
  fast.on('message', () => { received++ })
  await once(fast, 'open', { signal: AbortSignal.timeout(DEADLINE_MS) })
  await until(() => received > 0, 'the fast client reading')
  const slow = connect(`${s.url}/flood`)
  t.teardown(() => slow.ws.terminate())
  await slow.received(1)
  const socket = (slow.ws as unknown as { _socket: Socket })._socket
  socket.pause()
  await until(() => s.logs.some((r) => r.msg === 'shared client leave' && r['closeCode'] === 1008), 'the laggard closed', DEADLINE_MS)
  const before = received
  await until(() => received > before + 1000, 'the fast client still receiving')
  socket.resume()
  t.match(await slow.closed, { code: 1008, reason: 'lagging' })
  t.ok(received > before + 1000, 'the fast client was not held back')
})

t.test('linger: a client during linger attaches to the same program; after linger it ends', async (t) => {
  const s = await startServer(t, route('/long', 'linger: 30s, replay: 1KiB') + route('/short', 'linger: 50ms'))
  const a = await join(`${s.url}/long`)
  a.c.ws.close(1000)
  await until(() => s.logs.some((r) => r.msg === 'shared client leave'), 'the leave')
  const b = await join(`${s.url}/long`)
  t.equal(b.pid, a.pid, 'the lingering program')
  b.c.ws.close(1000)
  await b.c.closed
  const c = await join(`${s.url}/short`)
  c.c.ws.close(1000)
  await until(() => s.logs.some((r) => r.msg === 'shared program end' && r['path'] === '/short'), 'the end after linger')
  await until(() => !isRunning(c.pid), 'the program gone')
  const d = await join(`${s.url}/short`)
  t.not(d.pid, c.pid, 'a new client starts a new program')
  await s.app.close()
  await until(() => !isRunning(a.pid) && !isRunning(d.pid), 'the server close ends lingering and attached programs')
  t.match(await d.c.closed, { code: 1001 })
})

t.test('one program per URL path; each client counts for maxSessions', async (t) => {
  const s = await startServer(t, `/logs/:app:\n  ${SHARED}  params: { app: "^[a-z]+$" }\n  maxSessions: 3\n  share: { replay: 1KiB }\n`)
  const a = await join(`${s.url}/logs/api`)
  const b = await join(`${s.url}/logs/web`)
  const c = await join(`${s.url}/logs/api`)
  t.not(a.pid, b.pid, 'two paths, two programs')
  t.equal(c.pid, a.pid)
  t.equal(await upgradeStatus(`${s.url}/logs/api`), 503, 'the fourth client is refused as a fourth session')
  t.equal(valueOf(await metrics(s), 'wsexec_shared_programs', { route: '/logs/:app' }), 2)
})

t.test('a shared terminal: the writer resizes it; an invalid resize is ignored', async (t) => {
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n  killGrace: 200ms\n  share: { input: first, replay: 4KiB }\n`)
  const a = connect(`${s.url}/tty`)
  t.teardown(() => a.ws.terminate())
  await until(() => a.messages.join('').includes('name? '), 'the prompt')
  const b = connect(`${s.url}/tty`)
  t.teardown(() => b.ws.terminate())
  await until(() => b.messages.join('').includes('name? '), 'the replayed prompt')
  b.ws.send('{"resize":{"cols":50,"rows":10}}')
  a.ws.send('{"resize":{"cols":0}}')
  a.ws.send('{"resize":{"cols":100,"rows":30}}')
  await until(() => b.messages.join('').includes('resized 100x30'), 'the resize')
  t.notOk(a.messages.join('').includes('resized 50x10'), 'a reader cannot resize')
  t.ok(s.logs.some((r) => r.msg === 'message ignored'), 'the invalid resize is logged')
  a.ws.send('ann\r')
  t.match(await b.closed, { code: 4003 })
})

t.test('a client offering wsexec.share.v1 is told first whether it may write', async (t) => {
  const s = await startServer(t, route('/first', 'input: first'))
  const a = connect(`${s.url}/first`, {}, ['wsexec.share.v1'])
  t.teardown(() => a.ws.terminate())
  const [control, pid] = await a.received(2)
  t.equal(a.ws.protocol, 'wsexec.share.v1')
  t.same(JSON.parse(String(control)), { share: { input: 'first', write: true } })
  t.match(String(pid), /^pid [0-9]+$/)
  const b = connect(`${s.url}/first`, {}, ['wsexec.share.v1'])
  t.teardown(() => b.ws.terminate())
  t.same(JSON.parse(String((await b.received(1))[0])), { share: { input: 'first', write: false } }, 'a viewer is read-only')
  a.ws.send('hi')
  t.same(await next(b, 1, 1), ['hi'], 'then the program\'s messages')
})

t.test('a kill of the server ends a lingering program at once', async (t) => {
  const s = await startServer(t, route('/long', 'linger: 30s'))
  const a = await join(`${s.url}/long`)
  a.c.ws.close(1000)
  await until(() => s.logs.some((r) => r.msg === 'shared client leave'), 'the leave')
  s.app.wsexec.kill()
  await until(() => !isRunning(a.pid), 'the lingering program killed')
  await until(() => s.logs.some((r) => r.msg === 'shared program end' && r['signal'] === 'SIGKILL'), 'its end')
})
