import { execFileSync } from 'node:child_process'
import { getEventListeners, once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { pino } from 'pino'
import t from 'tap'
import { STARTS_PER_COLLECTION } from '../../src/spawner/collector.mjs'
import { SpawnerPool, STARTS_PER_SPAWNER } from '../../src/spawner/pool.js'
import { readChunks } from '../../src/spawner/read-buffer.js'
import type { RemoteProgram } from '../../src/spawner/remote.js'
import { connect, DEADLINE_MS, refusedUpgrade, until } from '../helpers/client.js'
import { watchFlow } from '../helpers/flow.js'
import { readyPool } from '../helpers/pool.js'
import { childrenOf, isRunning } from '../helpers/processes.js'
import { node, startServer, type LogRecord, type TestServer } from '../helpers/server.js'

/**
 * The pid of the `count`th spawner that said it is ready. Spawners are forked by the first
 * session: for the first, a session of `/warm` runs first.
 */
async function spawnerPid (s: TestServer, count = 1): Promise<number> {
  if (count === 1) {
    await connect(`${s.url}/warm`).closed
    await until(() => s.app.wsexec.sessions.size === 0, 'the warm-up session to end')
  }
  const ready = (): LogRecord[] => s.logs.filter((r) => r.msg === 'spawner ready')
  await until(() => ready().length >= count, 'a spawner to be ready')
  return (ready()[count - 1] as LogRecord)['spawnerPid'] as number
}

t.test('a session runs in a spawner: output byte-exact, input, stderr, exit status, the pid logged', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /yes:
    command: ${node('yes.mjs', '20000')}
  /cat:
    command: [cat]
  /exit:
    command: [/bin/sh, -c, 'read line; echo oops >&2; exit 3']
    stderr: merge
`)
  const yes = connect(`${s.url}/yes`)
  const closed = await yes.closed
  t.equal(yes.messages.length, 20000, 'every line arrived')
  t.equal(yes.messages[19999], 'y 19999', 'in order, to the last')
  t.same(closed, { code: 1000, reason: 'exit 0' })
  const cat = connect(`${s.url}/cat`)
  await cat.opened
  cat.ws.send('hello')
  t.same(await cat.received(1), ['hello'], 'input reaches the program through the handed-over pipe')
  cat.ws.close()
  await cat.closed
  const exit = connect(`${s.url}/exit`)
  await exit.opened
  exit.ws.send('go')
  t.match(await exit.closed, { reason: 'exit 3' }, 'the exit status comes back from the spawner')
  t.match(exit.messages, [/oops/], 'stderr is handed over too')
  const start = s.logs.find((r) => r.msg === 'session start')
  t.type(start?.['childPid'], 'number', 'the pid is logged once known')
})

t.test('a program that cannot start closes with 1011 spawn failed: CODE, from the spawner', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /gone:
    command: [/bin/sh, -c, 'exec /nonexistent/program']
  /nul:
    command: [/bin/echo, "a\\u0000b"]
`)
  const nul = connect(`${s.url}/nul`)
  t.same(await nul.closed, { code: 1011, reason: 'spawn failed: ERR_INVALID_ARG_VALUE' })
})

t.test('a spawner killed mid-session: 1011 spawner lost, the program ended, a new spawner, new sessions work', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /hold:
    command: ${node('grandchild.mjs')}
    killGrace: 200ms
  /cat:
    command: [cat]
`)
  const pid = await spawnerPid(s)
  const hold = connect(`${s.url}/hold`)
  const grandchild = Number((await hold.received(1))[0])
  const [session] = s.app.wsexec.sessions
  const program = session?.pid as number
  process.kill(pid, 'SIGKILL')
  t.same(await hold.closed, { code: 1011, reason: 'spawner lost' })
  await until(() => !isRunning(program) && !isRunning(grandchild), 'the program and its background child to end')
  t.pass('the process group was ended by the server')
  const next = await spawnerPid(s, 2)
  t.not(next, pid, 'a new spawner started')
  const cat = connect(`${s.url}/cat`)
  await cat.opened
  cat.ws.send('again')
  t.same(await cat.received(1), ['again'], 'a new session works')
  cat.ws.close()
  await cat.closed
  t.ok(s.logs.some((r) => r.msg === 'spawner lost' && r['spawnerPid'] === pid), 'the loss is logged')
})

t.test('maxPendingSpawns: more starts in flight are refused with 503 WSEXEC_ERR_BUSY and Retry-After; a client gone first has its program ended at once', async (t) => {
  const s = await startServer(t, `
spawners: 1
maxPendingSpawns: 1
routes:
  /warm:
    command: [/bin/true]
  /hold:
    command: ${node('grandchild.mjs')}
`)
  const pid = await spawnerPid(s)
  // A stopped spawner answers nothing: the first start stays in flight.
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const first = connect(`${s.url}/hold`)
  await first.opened
  const refused = await refusedUpgrade(`${s.url}/hold`)
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_BUSY' })
  t.notOk(s.logs.some((r) => r.msg === 'session start' && r['route'] === '/hold'), 'no process started meanwhile')
  first.ws.close()
  await first.closed
  process.kill(pid, 'SIGCONT')
  const [session] = s.app.wsexec.sessions
  const summary = await session?.done
  t.match(summary, { closedBy: 'client' })
  const started = s.logs.find((r) => r.msg === 'session start' && r['route'] === '/hold')
  await until(() => !isRunning(started?.['childPid'] as number), 'the program of the client gone to end')
  t.pass('the program that started after its client left was ended at once')
  const second = connect(`${s.url}/hold`)
  await second.received(1)
  second.ws.close()
  await second.closed
})

t.test('input sent before the program starts waits for it, the client paused past the mark', async (t) => {
  const flow = watchFlow(t)
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /count:
    command: ${node('count.mjs')}
`)
  const pid = await spawnerPid(s)
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const c = connect(`${s.url}/count`)
  await c.opened
  const paused = flow.next('input-paused')
  const line = 'x'.repeat(1023)
  for (let i = 0; i < 300; i++) c.ws.send(line)
  await paused
  t.pass('the client is paused while its input waits')
  c.ws.send('END')
  process.kill(pid, 'SIGCONT')
  t.same(await c.received(1), ['300'], 'every line reached the program once it started')
  await c.closed
})

t.test('a spawner that dies before answering a start: 1011 spawner lost', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
  /cat:
    command: [cat]
`)
  const pid = await spawnerPid(s)
  process.kill(pid, 'SIGSTOP')
  const c = connect(`${s.url}/cat`)
  await c.opened
  process.kill(pid, 'SIGKILL')
  t.same(await c.closed, { code: 1011, reason: 'spawner lost' })
})

t.test('a start asked for before any spawner is ready, by a client gone since, is never sent', async (t) => {
  const pool = new SpawnerPool(1, pino({ level: 'silent' }))
  t.teardown(() => pool.close())
  const leaving = new AbortController()
  const outcome = pool.spawn({ file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }, leaving.signal)
  t.equal(pool.inFlight, 1, 'counted in flight while waiting')
  leaving.abort()
  t.same(await outcome, { cancelled: true })
  t.equal(pool.inFlight, 0)
})

t.test('closing the pool answers the starts still waiting with lost', async (t) => {
  const pool = new SpawnerPool(1, pino({ level: 'silent' }))
  const outcome = pool.spawn({ file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }, AbortSignal.timeout(DEADLINE_MS))
  await pool.close()
  t.same(await outcome, { lost: true })
})

t.test('a start asked of a closed pool: lost, nothing forked', async (t) => {
  const pool = new SpawnerPool(1, pino({ level: 'silent' }))
  await pool.close()
  t.same(await pool.spawn({ file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }, AbortSignal.timeout(DEADLINE_MS)), { lost: true })
})

t.test('spawners: 0 starts programs in the server process, failures included', async (t) => {
  const s = await startServer(t, `
spawners: 0
routes:
  /cat:
    command: [cat]
  /nul:
    command: [/bin/echo, "a\\u0000b"]
  /pwd:
    command: [pwd]
    cwd: /tmp
`)
  const cat = connect(`${s.url}/cat`)
  await cat.opened
  cat.ws.send('here')
  t.same(await cat.received(1), ['here'])
  const [session] = s.app.wsexec.sessions
  t.ok(childrenOf(process.pid).some((p) => p.pid === session?.pid), 'the program is a child of the server')
  cat.ws.close()
  await cat.closed
  t.same(await connect(`${s.url}/nul`).closed, { code: 1011, reason: 'spawn failed: ERR_INVALID_ARG_VALUE' })
  const pwd = connect(`${s.url}/pwd`)
  await pwd.closed
  t.same(pwd.messages, ['/tmp'], 'in the route\'s cwd')
})

t.test('a spawner starts a program in its cwd; the pool waits for the spawner to exit', async (t) => {
  const pool = new SpawnerPool(1, pino({ level: 'silent' }))
  t.teardown(() => pool.close())
  const outcome = await pool.spawn({ file: '/bin/pwd', args: [], argv0: 'pwd', cwd: '/tmp', env: {}, stderr: false, killGraceMs: 100 }, AbortSignal.timeout(DEADLINE_MS))
  const program = (outcome as { program: RemoteProgram }).program
  const chunks: Buffer[] = []
  readChunks(program.stdout, (chunk) => chunks.push(Buffer.from(chunk)))
  await once(program.stdout, 'end', { signal: AbortSignal.timeout(DEADLINE_MS) })
  t.equal(Buffer.concat(chunks).toString(), '/tmp\n')
  await pool.close()
})

t.test('a spawner out of descriptors answers failed: EMFILE, and starts programs again once it has them', async (t) => {
  const { pool, pid } = await readyPool(t)
  const spec = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }
  // The server has descriptors to spare, its spawner (soft limit lowered) not: the spawner's own check answers.
  const [, hard] = readFileSync(`/proc/${pid}/limits`, 'utf8').match(/Max open files\s+\d+\s+(\d+)/) ?? []
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${readdirSync(`/proc/${pid}/fd`).length + 2}:${String(hard)}`])
  t.match(await pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS)), { error: { code: 'EMFILE' } })
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${String(hard)}:${String(hard)}`])
  t.match(await pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS)), { program: { pid: Number } })
  await pool.close()
})

t.test('a spawner runs with a 1 MiB young generation and V8 tuned for size (its memory per program)', async (t) => {
  const s = await startServer(t, `
spawners: 1
routes:
  /warm:
    command: [/bin/true]
`)
  const argv = readFileSync(`/proc/${await spawnerPid(s)}/cmdline`, 'utf8').split('\0')
  t.ok(argv.includes('--max-semi-space-size=1'), 'a 1 MiB young generation')
  t.ok(argv.includes('--optimize-for-size'), 'V8 favours size over speed')
  t.ok(argv.includes('--expose-gc'), 'it may collect its garbage between starts')
})

t.test('a spawner is sent a few starts at a time; the others wait in the server and follow as it answers', async (t) => {
  const { pool } = await readyPool(t)
  const spec = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }
  const count = 3 * STARTS_PER_SPAWNER
  // Each start is queued and dispatched synchronously within its spawn() call.
  const outcomes = Array.from({ length: count }, async () => pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS)))
  t.equal(pool.inFlight, count, 'every start counts as in flight')
  t.equal(pool.queued, count - STARTS_PER_SPAWNER, 'all but the first few wait in the server')
  t.ok((await Promise.all(outcomes)).every((o) => 'program' in o), 'every program started')
  t.equal(pool.queued, 0, 'none left waiting')
  await pool.close()
})

t.test('a start leaves no listener on its signal once answered (the signal lives as long as the program)', async (t) => {
  const { pool } = await readyPool(t)
  const leaving = new AbortController()
  const spec = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }
  const outcome = pool.spawn(spec, leaving.signal)
  t.equal(getEventListeners(leaving.signal, 'abort').length, 1, 'listened to while the start waits')
  t.match(await outcome, { program: { pid: Number } })
  t.equal(getEventListeners(leaving.signal, 'abort').length, 0, 'not listened to once answered')
  await pool.close()
})

t.test('a spawner collects its garbage between starts and goes on starting programs', async (t) => {
  const { pool } = await readyPool(t)
  const spec = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100 }
  // One more start than a collection needs: the start after the collection is answered too.
  const outcomes = await Promise.all(Array.from({ length: STARTS_PER_COLLECTION + 1 }, async () => pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS))))
  t.ok(outcomes.every((o) => 'program' in o), 'every program started')
  await pool.close()
})
