import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node'
import t from 'tap'
import { connect, refusedUpgrade, until, type Client } from '../../helpers/client.js'
import { rawUpgrade } from '../../helpers/raw.js'
import { fixture, node, q, startServer } from '../../helpers/server.js'

const EXEC_PATH = '/api/v1/namespaces/:ns/pods/:pod/exec'
const ROUTE = `${EXEC_PATH}:
  command: ${node('exec.mjs')}
  params: { ns: '[a-z0-9-]+', pod: '[a-z0-9-]+' }
  protocols: [v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io]
  stderr: discard
`
const STREAMS = 'stdin=true&stdout=true&stderr=true'

function kubeConfig (port: number): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'wsexec', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'nobody' }],
    contexts: [{ name: 'wsexec', cluster: 'wsexec', user: 'nobody' }],
    currentContext: 'wsexec'
  })
  return kc
}

function collect (stream: PassThrough): () => string {
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return () => Buffer.concat(chunks).toString('utf8')
}

/** The messages of channel `n`, payloads as text. */
function channel (c: Client, n: number): string[] {
  return c.messages.filter((m): m is Buffer => Buffer.isBuffer(m) && m[0] === n).map((m) => m.subarray(1).toString('utf8'))
}

function message (n: number, payload: string | Buffer = ''): Buffer {
  return Buffer.concat([Buffer.from([n]), Buffer.from(payload)])
}

t.test('@kubernetes/client-node Exec: stdout and stderr apart, stdin to its end (v5 close signal), the NonZeroExitCode status', async (t) => {
  const s = await startServer(t, ROUTE)
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out = collect(stdout)
  const err = collect(stderr)
  let resolveStatus!: (status: V1Status) => void
  const gotStatus = new Promise<V1Status>((resolve) => { resolveStatus = resolve })
  const stdin = Readable.from([Buffer.from('hello\n'), Buffer.from('world\n')])
  const socket = await new Exec(kubeConfig(s.port)).exec('default', 'web-1', 'main', ['ignored', 'by', 'wsexec'], stdout, stderr, stdin, false, (st) => resolveStatus(st))
  t.equal(socket.protocol, 'v5.channel.k8s.io', 'client-node offers v5 first')
  const status = await gotStatus
  t.equal(out(), 'out\nstdin 12 bytes\n', 'stdout, with the count of what came in on stdin: its end reached the program')
  t.equal(err(), 'err\n', 'stderr apart, whatever the route\'s stderr mode')
  t.same(status, { metadata: {}, status: 'Failure', message: 'command terminated with non-zero exit code: exit status 3', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } })
  await until(() => s.app.wsexec.sessions.size === 0, 'the session to end')
  const end = s.logs.find((r) => r.msg === 'session end')
  t.match(end, { exitCode: 3, closeCode: 1000, closedBy: 'server' }, 'the server closed with 1000 after the status')
  t.match(s.logs.find((r) => r.msg === 'session start'), { route: EXEC_PATH })
})

function failure (exitCode: number, how: string): string {
  return `{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: ${how}","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"${exitCode}"}]}}`
}

for (const [exit, status] of [[3, failure(3, 'exit status 3')], [0, '{"metadata":{},"status":"Success"}']] as const) {
  t.test(`raw client, exit ${exit}: v5 and v4 send the Status bytes on channel 3 last and close with 1000, the exit status in the reason`, async (t) => {
    const s = await startServer(t, ROUTE.replace(`${q(fixture('exec.mjs'))}]`, `${q(fixture('exec.mjs'))}, "${exit}"]`))
    const v5 = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?${STREAMS}`, {}, ['v5.channel.k8s.io', 'v4.channel.k8s.io'])
    await v5.opened
    t.equal(v5.ws.protocol, 'v5.channel.k8s.io', 'the first offer the route speaks')
    v5.ws.send(message(0, 'abc'))
    v5.ws.send(message(0, 'de'))
    v5.ws.send(Buffer.from([255, 0]))
    v5.ws.send(message(0, 'dropped'))
    t.same(await v5.closed, { code: 1000, reason: `exit ${exit}` })
    t.equal(channel(v5, 1).join(''), 'out\nstdin 5 bytes\n', 'stdin ended at the close signal')
    t.equal(channel(v5, 2).join(''), 'err\n')
    t.same(channel(v5, 3), [status], 'the Status JSON, byte for byte')
    t.equal((v5.messages.at(-1) as Buffer)[0], 3, 'the status comes last')

    // Without stdin=true the program's stdin ends at once (v4 has no close signal).
    const v4 = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stdout=1&stderr=true`, {}, ['v4.channel.k8s.io'])
    t.same(await v4.closed, { code: 1000, reason: `exit ${exit}` })
    t.equal(v4.ws.protocol, 'v4.channel.k8s.io')
    t.equal(channel(v4, 1).join(''), 'out\nstdin 0 bytes\n')
    t.same(channel(v4, 3), [status])

    // The legacy protocol: nothing on channel 3 on success, the message as text on failure.
    const v1 = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stdout=1&stderr=1`, {}, ['channel.k8s.io'])
    t.same(await v1.closed, { code: 1000, reason: `exit ${exit}` })
    t.same(channel(v1, 3), exit === 0 ? [] : ['command terminated with non-zero exit code: exit status 3'])
  })
}

t.test('stdout=false and stderr=false discard those streams', async (t) => {
  const s = await startServer(t, ROUTE)
  const c = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stderr=1&stdout=false`, {}, ['v5.channel.k8s.io'])
  await c.closed
  t.equal(channel(c, 1).join(''), '')
  t.equal(channel(c, 2).join(''), 'err\n')
  const d = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stdout=1&stderr=0`, {}, ['v5.channel.k8s.io'])
  await d.closed
  t.equal(channel(d, 1).join(''), 'out\nstdin 0 bytes\n')
  t.equal(channel(d, 2).join(''), '')
})

t.test('a death by signal is NonZeroExitCode 128 + N; a program that cannot start is an InternalError; both close with 1000', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-gone-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const gone = join(dir, 'gone')
  await copyFile(fixture('exit.mjs'), gone)
  await chmod(gone, 0o755)
  const s = await startServer(t, `/kill:\n  command: [bash, -c, "kill -9 $$"]\n  protocols: [v5.channel.k8s.io]\n/gone:\n  command: [${q(gone)}]\n  protocols: [v4.channel.k8s.io]\n/gone1:\n  command: [${q(gone)}]\n  protocols: [channel.k8s.io]\n`)
  await rm(gone)
  const kill = connect(`${s.url}/kill?stdout=1`, {}, ['v5.channel.k8s.io'])
  t.same(await kill.closed, { code: 1000, reason: 'signal SIGKILL' })
  t.same(channel(kill, 3), [failure(137, 'signal SIGKILL')])
  const c = connect(`${s.url}/gone?stdout=1`, {}, ['v4.channel.k8s.io'])
  t.same(await c.closed, { code: 1000, reason: 'spawn failed: ENOENT' })
  t.same(channel(c, 3), ['{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: spawn failed: ENOENT","reason":"InternalError","details":{"causes":[{"message":"error executing command in container: spawn failed: ENOENT"}]},"code":500}'])
  const legacy = connect(`${s.url}/gone1?stdout=1`, {}, ['channel.k8s.io'])
  await legacy.closed
  t.same(channel(legacy, 3), ['Internal error occurred: error executing command in container: spawn failed: ENOENT'])
})

t.test('subprotocol choice: the first offer the route speaks; plain when none is offered and plain is allowed; else 400', async (t) => {
  const s = await startServer(t, `${ROUTE}/plain:\n  command: [cat]\n/both:\n  command: [cat]\n  protocols: [plain, v4.channel.k8s.io]\n`)
  const exec = '/api/v1/namespaces/ns/pods/pod/exec?stdout=1'
  const refused = await refusedUpgrade(`${s.url}${exec}`)
  t.equal(refused.status, 400)
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_PROTOCOL_NOT_SUPPORTED', message: `${EXEC_PATH} speaks only the subprotocols v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io` })
  t.equal((await refusedUpgrade(`${s.url}${exec}`, { headers: { 'sec-websocket-protocol': 'v3.channel.k8s.io' } })).status, 400)
  const v4 = connect(`${s.url}${exec}`, {}, ['v3.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'])
  await v4.opened
  t.equal(v4.ws.protocol, 'v4.channel.k8s.io', 'the client\'s order decides')
  v4.ws.close()
  // A plain route never claims a channel protocol: it answers with the first other offer, if any.
  const plain = connect(`${s.url}/plain`, {}, ['bearer.not-a-secret', 'v5.channel.k8s.io', 'chat'])
  await plain.opened
  t.equal(plain.ws.protocol, 'chat')
  plain.ws.close()
  const unnamed = await rawUpgrade(s.port, '/plain', { 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io, bearer.not-a-secret' })
  t.notMatch(unnamed.received().toString('latin1').toLowerCase(), 'sec-websocket-protocol', 'nothing to answer with')
  unnamed.socket.destroy()
  const none = connect(`${s.url}/plain`)
  await none.opened
  t.equal(none.ws.protocol, '')
  none.ws.close()
  const both = connect(`${s.url}/both?stdin=1`, {}, ['v5.channel.k8s.io', 'v4.channel.k8s.io'])
  await both.opened
  t.equal(both.ws.protocol, 'v4.channel.k8s.io')
  both.ws.send(message(0, 'x'))
  both.ws.send(Buffer.from([255, 0]))
  both.ws.close()
  await both.closed
  t.equal(s.logs.filter((r) => r.msg === 'message ignored' && r['reason'] === 'message on channel 255 ignored').length, 1, 'v4 has no close signal: ignored')
})

t.test('bad stream options are refused with 400 before the program starts', async (t) => {
  const s = await startServer(t, `${ROUTE}/tty:\n  command: [cat]\n  tty: true\n  protocols: [v5.channel.k8s.io]\n`)
  const offer = { headers: { 'sec-websocket-protocol': 'v5.channel.k8s.io' } }
  const none = await refusedUpgrade(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stdin=false&tty=false`, offer)
  t.match({ status: none.status, body: JSON.parse(none.body) }, { status: 400, body: { code: 'WSEXEC_ERR_BAD_STREAM_OPTIONS', message: 'you must specify at least 1 of stdin, stdout, stderr' } })
  const tty = await refusedUpgrade(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?stdout=1&tty=true`, offer)
  t.match({ status: tty.status, body: JSON.parse(tty.body) }, { status: 400, body: { message: `tty=true needs a route with tty: true (${EXEC_PATH} has none)` } })
  for (const size of ['cols=0', 'rows=70000', 'cols=1.5', 'cols=abc']) {
    t.equal((await refusedUpgrade(`${s.url}/tty?stdin=1&${size}`, offer)).status, 400, size)
  }
  t.equal(s.app.wsexec.sessions.size, 0)
  const c = connect(`${s.url}/tty?stdin=1&stdout=1&tty=1`, {}, ['v5.channel.k8s.io'])
  await c.opened
  c.ws.close()
  await c.closed
})

t.test('bad channel messages: empty or unknown channel ignored with a debug line, a server channel closes with 1002', async (t) => {
  const s = await startServer(t, ROUTE)
  for (const n of [1, 2, 3]) {
    const c = connect(`${s.url}/api/v1/namespaces/ns/pods/pod/exec?${STREAMS}`, {}, ['v5.channel.k8s.io'])
    await c.opened
    c.ws.send(Buffer.alloc(0))
    c.ws.send(message(7, 'x'))
    c.ws.send(message(0))
    c.ws.send(Buffer.from([255]))
    c.ws.send(Buffer.from([255, 1]))
    c.ws.send(message(4, '{"Width":80,"Height":24}'))
    c.ws.send(message(n, 'x'))
    t.same(await c.closed, { code: 1002, reason: `client message on server channel ${n}` })
  }
  const debug = s.logs.filter((r) => r.msg === 'message ignored' && r.level === 20).map((r) => r['reason'])
  t.same(debug.slice(0, 5), ['empty channel message', 'message on channel 7 ignored', 'message on channel 255 ignored', 'message on channel 255 ignored', 'message on channel 4 ignored'])
})

t.test('a tty route over channels: stderr merged into channel 1, resize on channel 4, the close signal types Ctrl-D', async (t) => {
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n  protocols: [v5.channel.k8s.io, channel.k8s.io]\n/cat:\n  command: [cat]\n  tty: true\n  protocols: [v5.channel.k8s.io]\n`)
  const c = connect(`${s.url}/tty?stdin=1&stdout=1&tty=1&cols=90&rows=20`, {}, ['v5.channel.k8s.io'])
  const screen = (): string => channel(c, 1).join('')
  await until(() => screen().includes('name? '), 'the prompt')
  t.match(screen(), 'size 90x20')
  c.ws.send(message(4, '{"Width":0,"Height":31}'))
  c.ws.send(message(4, 'not json'))
  c.ws.send(message(4, 'null'))
  c.ws.send(message(4, '{"Width":101,"Height":31}'))
  await until(() => screen().includes('resized 101x31'), 'the resize')
  c.ws.send(message(0, 'Ada\r'))
  t.same(await c.closed, { code: 1000, reason: 'exit 3' })
  t.match(screen(), 'hello Ada\r\nbye on stderr\r\n')
  t.same(channel(c, 2), [], 'nothing on channel 2: the terminal merges stderr')
  t.same(channel(c, 3), [failure(3, 'exit status 3')])
  t.same(s.logs.filter((r) => r.msg === 'message ignored' && r.level === 30).map((r) => r['reason']), ['resize message without a valid Width and Height', 'resize message is not JSON', 'resize message without a valid Width and Height'])

  const cat = connect(`${s.url}/cat?stdin=1&stdout=1&tty=1`, {}, ['v5.channel.k8s.io'])
  await cat.opened
  cat.ws.send(message(0, 'abc\r'))
  await until(() => channel(cat, 1).join('') === 'abc\r\nabc\r\n', 'the echo and the line')
  cat.ws.send(Buffer.from([255, 0]))
  t.same(await cat.closed, { code: 1000, reason: 'exit 0' })
  t.same(channel(cat, 3), ['{"metadata":{},"status":"Success"}'])

  const legacy = connect(`${s.url}/tty?stdin=1&stdout=1&tty=1`, {}, ['channel.k8s.io'])
  await until(() => channel(legacy, 1).join('').includes('name? '), 'the prompt')
  legacy.ws.send(message(4, '{"Width":101,"Height":31}'))
  legacy.ws.send(message(0, 'Bob\r'))
  t.same(await legacy.closed, { code: 1000, reason: 'exit 3' })
  t.notMatch(channel(legacy, 1).join(''), 'resized')
  t.ok(s.logs.some((r) => r['reason'] === 'message on channel 4 ignored'), 'channel.k8s.io has no resize channel')
})
