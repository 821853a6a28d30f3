import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import { connect, until, upgradeStatus } from '../helpers/client.js'
import { bufferedBytes } from '../helpers/flow.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { closeCodeOf, rawUpgrade } from '../helpers/raw.js'
import { fixture, node, q, startServer } from '../helpers/server.js'

const hex = (s: string | number[]): string => Buffer.from(s as string).toString('hex')

t.test('refused requests get their HTTP status and never start a process', async (t) => {
  const s = await startServer(t, `
/count/:n:
  command: [seq, "1", "{n}"]
  params: { n: "^[0-9]{1,6}$" }
`)
  t.equal(await upgradeStatus(`${s.url}/nope`), 404, 'unknown path')
  t.equal(await upgradeStatus(`${s.url}/count/abc`), 404, 'parameter fails its pattern')
  t.equal(await upgradeStatus(`${s.url}/count/1234567`), 404, 'parameter too long')
  t.equal(await upgradeStatus(`${s.url}/count/1;reboot`), 404, 'shell metacharacters')
  const plain = await fetch(`http://127.0.0.1:${s.port}/count/3?x=1`)
  t.equal(plain.status, 426, 'plain GET on a route')
  t.equal(plain.headers.get('upgrade'), 'websocket')
  t.match(await plain.json(), { code: 'WSEXEC_ERR_UPGRADE_REQUIRED', message: '/count/:n is a WebSocket endpoint: connect with a WebSocket client' })
  const missing = await fetch(`http://127.0.0.1:${s.port}/missing`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { code: 'WSEXEC_ERR_ROUTE_NOT_FOUND', message: 'No route for /missing' })
  t.equal((await fetch(`http://127.0.0.1:${s.port}/count/3`, { method: 'POST' })).status, 404, 'other methods')
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0, 'no session was started')
  t.same(s.logs.filter((r) => r.msg === 'request refused').map((r) => r['status']), [404, 404, 404, 404, 426, 404, 404])
})

t.test('text mode: one line, one message; exit 0 closes with 1000 after all output', async (t) => {
  const s = await startServer(t, `
/count/:n:
  command: [seq, "1", "{n}"]
  params: { n: "^[0-9]{1,6}$" }
`)
  const c = connect(`${s.url}/count/5`)
  t.same(await c.closed, { code: 1000, reason: 'exit 0' })
  t.same(c.messages, ['1', '2', '3', '4', '5'])
  const big = connect(`${s.url}/count/100000`)
  t.same(await big.closed, { code: 1000, reason: 'exit 0' })
  t.equal(big.messages.length, 100_000)
  t.equal(big.messages[99_999], '100000')
})

t.test('text mode framing: CRLF, empty lines, last line, invalid UTF-8, long lines', async (t) => {
  const s = await startServer(t, `
/bytes:
  command: ${node('write.mjs', hex('a\r\n\nb\n'), '61ff62', hex('\nsemi\r\nlast'))}
/long:
  command: ${node('write.mjs', hex('abcdefghij\n€€\n'))}
  maxLineBytes: 4
`)
  const c = connect(`${s.url}/bytes`)
  t.same(await c.closed, { code: 1000, reason: 'exit 0' })
  t.same(c.messages, ['a', '', 'b', 'a\ufffdb', 'semi', 'last'])
  const long = connect(`${s.url}/long`)
  await long.closed
  t.same(long.messages, ['abcd', 'efgh', 'ij', '€', '€'])
})

t.test('text mode input: a message is a line; a binary message is written raw', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  const c = connect(`${s.url}/echo`)
  await c.opened
  c.ws.send('hello')
  c.ws.send('')
  c.ws.send(Buffer.from('raw1\nraw2\n'), { binary: true })
  c.ws.send('wörld')
  t.same(await c.received(5), ['hello', '', 'raw1', 'raw2', 'wörld'])
  c.ws.close(1000)
  t.same(await c.closed, { code: 1000, reason: '' })
})

t.test('binary mode: chunks out, raw bytes in', async (t) => {
  const s = await startServer(t, '/bin:\n  command: [cat]\n  mode: binary\n')
  const c = connect(`${s.url}/bin`)
  await c.opened
  const sent = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x80])
  c.ws.send(sent)
  c.ws.send('text is raw too')
  const received: Buffer[] = []
  await new Promise<void>((resolve) => {
    c.ws.on('message', (data: Buffer, isBinary: boolean) => {
      t.ok(isBinary, 'binary frames')
      received.push(data)
      if (Buffer.concat(received).length >= sent.length + 15) resolve()
    })
    if (c.messages.length > 0) for (const m of c.messages) c.ws.emit('message', m, true)
  })
  t.same(Buffer.concat(received), Buffer.concat([sent, Buffer.from('text is raw too')]))
  c.ws.close()
  await c.closed
})

t.test('exit status, signals and spawn failures reach the client as close codes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-spawn-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const gone = join(dir, 'gone.sh')
  const noexec = join(dir, 'noexec.sh')
  await copyFile(fixture('exit.mjs'), gone)
  await copyFile(fixture('exit.mjs'), noexec)
  await chmod(gone, 0o755)
  await chmod(noexec, 0o755)
  const s = await startServer(t, `
/exit3:
  command: ${node('exit.mjs', 'bye')}
  env: { WSEXEC_TEST_EXIT: "3" }
/exit255:
  command: ${node('exit.mjs')}
  env: { WSEXEC_TEST_EXIT: "255" }
/kill:
  command: ${node('signal.mjs', 'SIGKILL')}
/term:
  command: ${node('signal.mjs', 'SIGTERM')}
/gone:
  command: [${q(gone)}]
/noexec:
  command: [${q(noexec)}]
`)
  await rm(gone)
  await chmod(noexec, 0o644)
  const exit3 = connect(`${s.url}/exit3`)
  t.same(await exit3.closed, { code: 4003, reason: 'exit 3' })
  t.same(exit3.messages, ['bye'], 'output first, then the close frame')
  t.same(await connect(`${s.url}/exit255`).closed, { code: 4255, reason: 'exit 255' })
  const kill = connect(`${s.url}/kill`)
  t.same(await kill.closed, { code: 4137, reason: 'signal SIGKILL' })
  t.same(kill.messages, ['dying'])
  t.same(await connect(`${s.url}/term`).closed, { code: 4143, reason: 'signal SIGTERM' })
  t.same(await connect(`${s.url}/gone`).closed, { code: 1011, reason: 'spawn failed: ENOENT' })
  t.same(await connect(`${s.url}/noexec`).closed, { code: 1011, reason: 'spawn failed: EACCES' })
  const failed = s.logs.filter((r) => r.msg === 'spawn failed')
  t.equal(failed.length, 2, 'each spawn failure is logged')
  t.match(s.logs.filter((r) => r.msg === 'session end' && r['route'] === '/gone'), [{ spawnError: 'ENOENT', closeCode: 1011, closedBy: 'server' }])
})

t.test('one failing session never affects another', async (t) => {
  const s = await startServer(t, `
/echo:
  command: [cat]
/boom:
  command: ${node('signal.mjs', 'SIGSEGV')}
`)
  const echo = connect(`${s.url}/echo`)
  await echo.opened
  const booms = Array.from({ length: 5 }, () => connect(`${s.url}/boom`))
  for (const b of booms) t.same(await b.closed, { code: 4139, reason: 'signal SIGSEGV' })
  echo.ws.send('still here')
  t.same(await echo.received(1), ['still here'])
  echo.ws.close()
  await echo.closed
})

t.test('the environment is websocketd-compatible and nothing else leaks', async (t) => {
  const s = await startServer(t, `
/env/:name:
  command: ${node('env.mjs')}
  params: { name: "[a-z]+" }
  passEnv: [PATH, HOME]
  env: { GREETING: hello, REMOTE_USER: route-wins }
`, { PATH: process.env['PATH'], HOME: '/home/test', SECRET_TOKEN: 'do-not-leak' })
  const c = connect(`${s.url}/env/alice?x=1&y=%20`, { headers: { 'X-Custom-Header': 'v1', Proxy: 'http://evil', Origin: `http://127.0.0.1:${s.port}` } })
  await c.received(1)
  const env = JSON.parse(c.messages[0] as string) as Record<string, string>
  c.ws.close()
  await c.closed
  t.match(env, {
    PATH: process.env['PATH'],
    HOME: '/home/test',
    GREETING: 'hello',
    REMOTE_USER: 'route-wins',
    SERVER_SOFTWARE: /^wsexec\/\d+\.\d+\.\d+/,
    GATEWAY_INTERFACE: 'websocketd-CGI/0.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_HOST: '127.0.0.1',
    REMOTE_PORT: /^[0-9]+$/,
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: String(s.port),
    SCRIPT_NAME: '/env/alice',
    PATH_INFO: '',
    QUERY_STRING: 'x=1&y=%20',
    REQUEST_URI: '/env/alice?x=1&y=%20',
    UNIQUE_ID: /^[0-9a-f-]{36}$/,
    HTTP_X_CUSTOM_HEADER: 'v1',
    HTTP_ORIGIN: `http://127.0.0.1:${s.port}`,
    HTTP_HOST: `127.0.0.1:${s.port}`,
    HTTP_UPGRADE: 'websocket',
    WSEXEC_ROUTE: '/env/:name',
    WSEXEC_PARAM_NAME: 'alice',
    AUTH_TYPE: '',
    CONTENT_LENGTH: ''
  })
  t.notOk('SECRET_TOKEN' in env, 'server variables not in passEnv stay out')
  t.notOk('HTTP_PROXY' in env, 'the Proxy header never becomes HTTP_PROXY')
  t.notOk('HTTPS' in env)
  t.equal(env['UNIQUE_ID'], s.logs.find((r) => r.msg === 'session start')?.['session'], 'UNIQUE_ID is the session id in the logs')
  const known = /^(PATH|HOME|GREETING|REMOTE_USER|SERVER_SOFTWARE|GATEWAY_INTERFACE|SERVER_PROTOCOL|REQUEST_METHOD|REMOTE_ADDR|REMOTE_HOST|REMOTE_PORT|SERVER_NAME|SERVER_PORT|SCRIPT_NAME|PATH_INFO|PATH_TRANSLATED|QUERY_STRING|REQUEST_URI|UNIQUE_ID|AUTH_TYPE|CONTENT_LENGTH|CONTENT_TYPE|REMOTE_IDENT|HTTP_[A-Z0-9_]+|WSEXEC_ROUTE|WSEXEC_PARAM_NAME)$/
  // tap's coverage hooks add NODE_OPTIONS and _TAPJS_* to every child process it sees spawned.
  const testHarness = /^(NODE_OPTIONS|_TAPJS_[A-Z_]+)$/
  t.same(Object.keys(env).filter((k) => !known.test(k) && !testHarness.test(k)), [], 'no other variable')
})

t.test('a header named with _ or . cannot pose as another in the environment', async (t) => {
  const s = await startServer(t, `/env:\n  command: ${node('env.mjs')}\n`)
  // The genuine header first: before the fix the last of the three became HTTP_X_FORWARDED_USER.
  const c = connect(`${s.url}/env`, { headers: { 'X-Forwarded-User': 'alice', X_Forwarded_User: 'root', 'X.Forwarded.User': 'admin', 'X~Tilde': 'x' } })
  const env = JSON.parse((await c.received(1))[0] as string) as Record<string, string>
  c.ws.close()
  await c.closed
  t.equal(env['HTTP_X_FORWARDED_USER'], 'alice', 'only X-Forwarded-User becomes HTTP_X_FORWARDED_USER')
  t.notOk(Object.values(env).includes('root') || Object.values(env).includes('admin') || 'HTTP_X_TILDE' in env, 'the other names are not passed at all')
})

t.test('stderr: log, discard, merge and tagged', async (t) => {
  const s = await startServer(t, `
/log:
  command: ${node('stderr.mjs')}
/discard:
  command: ${node('stderr.mjs')}
  stderr: discard
/merge:
  command: ${node('stderr.mjs')}
  stderr: merge
/tagged:
  command: ${node('stderr.mjs')}
  stderr: tagged
`)
  const log = connect(`${s.url}/log`)
  await log.closed
  t.same(log.messages, ['out 1', 'out 2'])
  t.match(s.logs.filter((r) => r.msg === 'program stderr'), [{ level: 40, stderr: 'err 1', route: '/log', session: /./, childPid: /./ }])
  const discard = connect(`${s.url}/discard`)
  await discard.closed
  t.same(discard.messages, ['out 1', 'out 2'])
  const merge = connect(`${s.url}/merge`)
  await merge.closed
  t.same([...merge.messages].sort(), ['err 1', 'out 1', 'out 2'])
  const tagged = connect(`${s.url}/tagged`)
  t.same(await tagged.closed, { code: 1000, reason: 'exit 0' })
  t.same(tagged.messages.map((m) => JSON.parse(m as string)).sort((a, b) => a.data.localeCompare(b.data)), [
    { stream: 'stderr', data: 'err 1' },
    { stream: 'stdout', data: 'out 1' },
    { stream: 'stdout', data: 'out 2' }
  ])
  t.equal(s.logs.filter((r) => r.msg === 'program stderr').length, 1, 'only the log route logs stderr')
})

t.test('each session logs one start and one end line with its figures', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  const c = connect(`${s.url}/echo`)
  await c.opened
  c.ws.send('abc')
  await c.received(1)
  c.ws.close(1000)
  await c.closed
  await Promise.all([...s.app.wsexec.sessions].map((x) => x.done))
  const start = s.logs.find((r) => r.msg === 'session start')
  const end = s.logs.find((r) => r.msg === 'session end')
  t.match(start, { level: 30, route: '/echo', path: '/echo', session: /^[0-9a-f-]{36}$/, remote: '127.0.0.1', childPid: Number })
  t.match(end, {
    level: 30,
    route: '/echo',
    session: start?.['session'],
    remote: '127.0.0.1',
    childPid: start?.['childPid'],
    exitCode: 0,
    signal: null,
    closeCode: 1000,
    closedBy: 'client',
    durationMs: Number,
    in: { messages: 1, bytes: 3 },
    out: { messages: 1, bytes: 3 },
    path: '/echo'
  })
})

t.test('the server closes open sessions with 1001 and ends their processes', async (t) => {
  const s = await startServer(t, `/wait:\n  command: ${node('ignore-term.mjs')}\n  killGrace: 100ms\n`)
  const c = connect(`${s.url}/wait`)
  await c.received(1)
  const [session] = s.app.wsexec.sessions
  await s.app.close()
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.match(await session?.done, { signal: 'SIGKILL', closeCode: 1001, closedBy: 'server' })
  t.equal(s.app.wsexec.sessions.size, 0)
})

t.test('WebSocket protocol errors close the connection and end the session', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  const c = connect(`${s.url}/echo`)
  await c.opened
  const [session] = s.app.wsexec.sessions
  // An invalid UTF-8 text frame, sent raw: ws closes with 1007.
  const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
  socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]))
  t.equal((await c.closed).code, 1007)
  t.match(await session?.done, { closeCode: 1007, closedBy: 'server', exitCode: 0 })
  t.ok(s.logs.some((r) => r.msg === 'websocket error'))
  t.equal(WebSocket.CLOSED, c.ws.readyState)
})

t.test('a route runs in its cwd; the state exposes the configuration', async (t) => {
  const s = await startServer(t, '/pwd:\n  command: [pwd]\n  cwd: /tmp\n')
  const c = connect(`${s.url}/pwd`)
  t.same(await c.closed, { code: 1000, reason: 'exit 0' })
  t.same(c.messages, ['/tmp'])
  t.equal(s.app.wsexec.config.routes[0]?.path, '/pwd')
})

t.test('messages to a session whose program never started are dropped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-gone-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const gone = join(dir, 'gone')
  await copyFile(fixture('exit.mjs'), gone)
  await chmod(gone, 0o755)
  const s = await startServer(t, `/gone:\n  command: [${q(gone)}]\n`)
  await rm(gone)
  const c = connect(`${s.url}/gone`)
  // Sent from the open event itself: the close frame may already be in the same packet.
  c.ws.once('open', () => c.ws.send('into the void'))
  await c.opened
  const [session] = s.app.wsexec.sessions
  t.equal((await bufferedBytes(s.app)).toProgram, 0)
  t.same(await c.closed, { code: 1011, reason: 'spawn failed: ENOENT' })
  t.match(await session?.done, { in: { messages: 1 }, spawnError: 'ENOENT' })
})

t.test('a spawn that throws (a NUL in a parameter, an environment too big) closes 1011 and gives everything back', async (t) => {
  const s = await startServer(t, `
maxSessions: 1
routes:
  /any/:x:
    command: [echo, "{x}"]
    params: { x: "[^/]+" }
  /big:
    command: [cat]
    env: { BIG: ${'x'.repeat(200_000)} }
  /echo:
    command: [echo, ok]
`)
  const nul = connect(`${s.url}/any/a%00b`)
  await nul.opened
  t.same(await nul.closed, { code: 1011, reason: 'spawn failed: ERR_INVALID_ARG_VALUE' }, 'a NUL byte can be no argv element')
  t.same(await connect(`${s.url}/big`).closed, { code: 1011, reason: 'spawn failed: E2BIG' }, 'any error thrown by the spawn')
  t.match(s.logs.filter((r) => r.msg === 'spawn failed'), [{ err: { code: 'ERR_INVALID_ARG_VALUE' } }, { err: { code: 'E2BIG' } }])
  await until(() => s.app.wsexec.sessions.size === 0, 'the sessions to end')
  const echo = connect(`${s.url}/echo`)
  t.same(await echo.closed, { code: 1000, reason: 'exit 0' }, 'the only session slot was given back')
  t.same(echo.messages, ['ok'])
  const samples = parseExposition(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text())
  t.equal(valueOf(samples, 'wsexec_sessions_ended_total', { route: '/any/:x', outcome: 'spawn_failed' }), 1)
  t.equal(valueOf(samples, 'wsexec_sessions_ended_total', { route: '/big', outcome: 'spawn_failed' }), 1)
  t.equal(valueOf(samples, 'wsexec_sessions_active', { route: '/any/:x' }), 0)
  // A session whose spawn failed and whose client never answers the close frame: drain does not wait for it.
  const silent = await rawUpgrade(s.port, '/any/a%00b')
  await until(() => closeCodeOf(silent.received()) === 1011, 'the close frame')
  await s.app.wsexec.drain(60_000)
  t.equal(s.app.wsexec.sessions.size, 0, 'drained')
})

t.test('buildServer works without a server environment', async (t) => {
  const { buildServer } = await import('../../src/server/build.js')
  const { loadConfigText } = await import('../../src/config/pipeline.js')
  const { pino } = await import('pino')
  const app = await buildServer(await loadConfigText('routes:\n  /e:\n    command: [/usr/bin/env]\n', {}, { source: 'x', baseDir: '/' }), { logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const c = connect(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/e`)
  await c.closed
  t.notOk(c.messages.some((m) => String(m).startsWith('PATH=')), 'no PATH when the server has none')
})
