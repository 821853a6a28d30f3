import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { pino } from 'pino'
import t from 'tap'
import WebSocket from 'ws'
import { SpawnerPool, STARTS_PER_SPAWNER, type StartOutcome } from '../../src/spawner/pool.js'
import { connect, DEADLINE_MS, refusedUpgrade, until } from '../helpers/client.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { isRunning } from '../helpers/processes.js'
import { fixture, logSink, node, startServer, type LogRecord, type TestServer } from '../helpers/server.js'

/** A burst of this many clients on a loaded machine: each wait is far longer than the usual deadline. */
const BURST_DEADLINE_MS = 180_000

const SPEC = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }

/** The server's metrics, parsed. */
async function metrics (s: TestServer): Promise<ReturnType<typeof parseExposition>> {
  const res = await s.app.inject({ url: '/metrics' })
  return parseExposition(res.body)
}

/** The pid of the server's only spawner, once a session of `/warm` has run (spawners start with the first session). */
async function warmSpawner (s: TestServer): Promise<number> {
  await connect(`${s.url}/warm`).closed
  await until(() => s.app.wsexec.sessions.size === 0, 'the warm-up session to end')
  return s.logs.find((r) => r.msg === 'spawner ready')?.['spawnerPid'] as number
}

/** One client of the burst: opens, sends `line`, and resolves with its socket once the line came back, or with the refusal's status. */
async function echoed (url: string, line: string): Promise<WebSocket | number> {
  const ws = new WebSocket(url)
  const signal = AbortSignal.timeout(BURST_DEADLINE_MS)
  const refused = once(ws, 'unexpected-response', { signal }).then(([, res]) => (res as { statusCode: number }).statusCode)
  const echo = once(ws, 'open', { signal }).then(async () => {
    const message = once(ws, 'message', { signal })
    ws.send(line)
    const [data] = await message
    return String(data) === line ? ws : -1
  })
  refused.catch(() => {})
  echo.catch(() => {})
  return await Promise.race([refused, echo])
}

t.test('500 sessions at once with maxSessions and maxSessionsPerClient raised: every one works, none is refused', async (t) => {
  const s = await startServer(t, `
maxSessions: 10000
maxSessionsPerClient: 10000
routes:
  /cat:
    command: [cat]
`)
  const count = 500
  const outcomes = await Promise.all(Array.from({ length: count }, async (_, i) => echoed(`${s.url}/cat`, `line ${i}`)))
  const open = outcomes.filter((o): o is WebSocket => typeof o !== 'number')
  t.equal(open.length, count, `every session echoed (refused or wrong: ${JSON.stringify(outcomes.filter((o) => typeof o === 'number'))})`)
  t.notOk(s.logs.some((r) => r.msg === 'request refused'), 'no upgrade was refused')
  const closed = open.map(async (ws) => once(ws, 'close', { signal: AbortSignal.timeout(BURST_DEADLINE_MS) }))
  for (const ws of open) ws.close()
  await Promise.all(closed)
  await until(() => s.app.wsexec.sessions.size === 0, 'every session to end', BURST_DEADLINE_MS)
  t.equal(valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'queued' }), 0, 'the queue is empty again')
})

t.test('a start that waits longer than startTimeout closes 1013 start timeout, logged; those sent to the spawner run once it answers', async (t) => {
  const s = await startServer(t, `
spawners: 1
startTimeout: 50ms
routes:
  /warm:
    command: [/bin/true]
  /cat:
    command: [cat]
`)
  const pid = await warmSpawner(s)
  // A stopped spawner answers nothing: the starts sent to it stay in flight, the next one waits in the queue.
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const sent = Array.from({ length: STARTS_PER_SPAWNER }, () => connect(`${s.url}/cat`))
  await until(async () => valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'sent' }) === STARTS_PER_SPAWNER, 'the starts to be sent', BURST_DEADLINE_MS)
  const late = connect(`${s.url}/cat`)
  t.same(await late.closed, { code: 1013, reason: 'start timeout' })
  const logged = s.logs.find((r) => r.msg === 'start timeout')
  t.match(logged, { route: '/cat', err: { code: 'ETIMEDOUT' } }, 'one log line says so')
  process.kill(pid, 'SIGCONT')
  for (const c of sent) {
    c.ws.send('hi')
    t.same(await c.received(1), ['hi'], 'a start sent before the timeout runs its program')
    c.ws.close()
    await c.closed
  }
  await until(() => s.app.wsexec.sessions.size === 0, 'every session to end')
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, STARTS_PER_SPAWNER + 1, 'no program for the session that timed out (the warm-up had one)')
  t.ok(s.logs.some((r) => r.msg === 'session end' && r['spawnError'] === 'ETIMEDOUT' && r['closeCode'] === 1013), 'its end says why')
})

t.test('a client that leaves while its start waits in the queue cancels it: no program', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /hold:
    command: ${node('grandchild.mjs')}
`)
  const pid = await warmSpawner(s)
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const sent = Array.from({ length: STARTS_PER_SPAWNER }, () => connect(`${s.url}/hold`))
  await until(async () => valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'sent' }) === STARTS_PER_SPAWNER, 'the starts to be sent', BURST_DEADLINE_MS)
  const leaving = connect(`${s.url}/hold`)
  await leaving.opened
  await until(async () => valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'queued' }) === 1, 'the start to wait in the queue', BURST_DEADLINE_MS)
  leaving.ws.close()
  await leaving.closed
  await until(async () => valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'queued' }) === 0, 'the start to leave the queue', BURST_DEADLINE_MS)
  process.kill(pid, 'SIGCONT')
  for (const c of sent) {
    await c.received(1)
    c.ws.close()
    await c.closed
  }
  await until(() => s.app.wsexec.sessions.size === 0, 'every session to end')
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, STARTS_PER_SPAWNER + 1, 'no program for the client that left (the warm-up had one)')
})

t.test('maxPendingSpawns defaults to maxSessions; 503 WSEXEC_ERR_BUSY only when the queue is full', async (t) => {
  const s = await startServer(t, `
spawners: 1
maxSessions: 20
maxPendingSpawns: ${STARTS_PER_SPAWNER + 1}
routes:
  /warm:
    command: [/bin/true]
  /cat:
    command: [cat]
`)
  t.equal((await startServer(t, 'maxSessions: 20\nroutes:\n  /cat:\n    command: [cat]\n')).app.wsexec.config.maxPendingSpawns, 20)
  t.equal((await startServer(t, 'maxSessions: 0\nroutes:\n  /cat:\n    command: [cat]\n')).app.wsexec.config.maxPendingSpawns, Infinity, 'no limit without a session limit')
  const pid = await warmSpawner(s)
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const waiting = Array.from({ length: STARTS_PER_SPAWNER + 1 }, () => connect(`${s.url}/cat`))
  await until(async () => valueOf(await metrics(s), 'wsexec_starts_pending', { state: 'queued' }) === 1, 'the queue to fill', BURST_DEADLINE_MS)
  const refused = await refusedUpgrade(`${s.url}/cat`)
  t.equal(refused.status, 503, 'the queue full: refused')
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_BUSY' })
  process.kill(pid, 'SIGCONT')
  for (const c of waiting) {
    c.ws.send('x')
    await c.received(1)
    c.ws.close()
    await c.closed
  }
})

t.test('the pool: a start that waited the start timeout in the queue is timedOut and never sent', async (t) => {
  const records: LogRecord[] = []
  const pool = new SpawnerPool(1, pino({ level: 'debug' }, logSink(records)), () => 20)
  t.teardown(() => pool.close())
  pool.start()
  await until(() => records.some((r) => r.msg === 'spawner ready'), 'the spawner')
  const pid = records.find((r) => r.msg === 'spawner ready')?.['spawnerPid'] as number
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const sent = Array.from({ length: STARTS_PER_SPAWNER }, async () => pool.spawn(SPEC, AbortSignal.timeout(DEADLINE_MS)))
  const late: StartOutcome = await pool.spawn(SPEC, AbortSignal.timeout(DEADLINE_MS))
  t.same(late, { timedOut: true })
  t.equal(pool.queued, 0, 'it left the queue')
  process.kill(pid, 'SIGCONT')
  t.ok((await Promise.all(sent)).every((o) => 'program' in o), 'the starts sent ran')
})

t.test('a pipe the server could not receive (out of descriptors): that start fails EMFILE, its program is ended, the server starts programs on', async (t) => {
  // The descriptors are filled in that process: prlimit keeps the fill short and harmless.
  const child = spawn('prlimit', ['--nofile=512:512', '--', process.execPath, ...process.execArgv, fixture('pipe-refused.ts')], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.resume()
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS * 2) })
  t.equal(code, 0, 'it ran to the end')
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(lines.find((l) => l['msg'] === 'outcome'), { outcome: { error: { code: 'EMFILE' } } }, 'the start failed EMFILE')
  const refused = lines.find((l) => l['msg'] === 'pipe not received')
  t.type(refused?.['childPid'], 'number', 'logged with the program\'s pid')
  await until(() => !isRunning(refused?.['childPid'] as number), 'the program to be ended')
  t.pass('the program without its pipes was ended')
  t.match(lines.find((l) => l['msg'] === 'next'), { started: true }, 'the next start works')
})
