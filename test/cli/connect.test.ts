import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'
import { CHANNEL_PROTOCOLS, connectMain, exitStatusForClose, exitStatusForStatus } from '../../src/cli/connect.js'
import { main } from '../../src/cli/main.js'
import { root } from '../helpers/cli.js'
import { DEADLINE_MS, until } from '../helpers/client.js'
import { needProgram } from '../helpers/debian.js'
import { node, startServer } from '../helpers/server.js'

interface Result { code: number, stdout: string, stderr: string }

/** Runs `wsexec connect` in this process with `input` on stdin. */
async function connectWith (argv: string[], input: string | Buffer[] | null): Promise<Result> {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  stderr.on('data', (d: Buffer) => { err += d.toString() })
  if (typeof input === 'string') stdin.end(input)
  else if (input !== null) { for (const chunk of input) stdin.write(chunk); stdin.end() }
  const code = await main(['connect', ...argv], { stdout, stderr, stdin, env: {}, cwd: root })
  return { code, stdout: out, stderr: err }
}

t.test('the exit status comes from the close code and the Status', async (t) => {
  t.same([1000, 4003, 4137, 4255, 1011, 1001, 1006].map(exitStatusForClose), [0, 3, 137, 255, 127, 255, 255])
  t.equal(exitStatusForStatus('{"metadata":{},"status":"Success"}'), 0)
  t.equal(exitStatusForStatus('{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'), 3)
  t.equal(exitStatusForStatus('{"status":"Failure"}'), undefined)
  t.equal(exitStatusForStatus('not json'), undefined)
})

t.test('plain routes: lines as messages, and the program\'s exit status', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-connect-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const broken = join(dir, 'broken.sh')
  await writeFile(broken, '#!/nonexistent/interpreter\n')
  await chmod(broken, 0o755)
  const s = await startServer(t, `/head:
  command: [head, -n, "2"]
/exit3:
  command: ${node('exit.mjs', 'bye')}
  env: { WSEXEC_TEST_EXIT: "3" }
/kill:
  command: ${node('signal.mjs', 'SIGKILL')}
/tagged:
  command: ${node('stderr.mjs')}
  stderr: tagged
/env:
  command: [printenv, HTTP_X_TEST]
/broken:
  command: [${JSON.stringify(broken)}]
/raw:
  command: [head, -c, "4"]
  mode: binary
`)
  t.same(await connectWith([`${s.url}/head`], 'one\ntwo\nthree\n'), { code: 0, stdout: 'one\ntwo\n', stderr: '' }, 'exit 0')
  t.same(await connectWith([`${s.url}/exit3`], null), { code: 3, stdout: 'bye\n', stderr: '' }, 'exit 3')
  const noStdin = new PassThrough()
  let noStdinText = ''
  noStdin.on('data', (d: Buffer) => { noStdinText += d.toString() })
  t.equal(await main(['connect', `${s.url}/exit3`], { stdout: noStdin, stderr: noStdin, env: {}, cwd: root }), 3, 'without stdin: end of input at once')
  t.equal(noStdinText, 'bye\n')
  t.same(await connectWith([`${s.url}/kill`], null), { code: 137, stdout: 'dying\n', stderr: '' }, 'SIGKILL: 128 + 9')
  t.same(await connectWith([`${s.url}/tagged`], null), { code: 0, stdout: 'out 1\nout 2\n', stderr: 'err 1\n' }, 'stderr on stderr')
  t.same(await connectWith(['-H', 'X-Test: hello', `${s.url}/env`], null), { code: 0, stdout: 'hello\n', stderr: '' }, '-H')
  t.same(await connectWith(['--binary', `${s.url}/raw`], [Buffer.from('ab'), Buffer.from('cdef')]), { code: 0, stdout: 'abcd', stderr: '' }, '--binary')
  const notStarted = await connectWith([`${s.url}/broken`], null)
  t.equal(notStarted.code, 127)
  t.match(notStarted.stderr, /^wsexec connect: the program did not start: spawn failed: ENOENT\n$/)
  const missing = await connectWith([`${s.url}/nope`], null)
  t.equal(missing.code, 255)
  t.equal(missing.stderr, `wsexec connect: cannot connect to ${s.url}/nope: 404 No route for /nope\n`)
  const refused = await connectWith(['ws://127.0.0.1:1/'], null)
  t.equal(refused.code, 255)
  t.match(refused.stderr, /cannot connect to ws:\/\/127\.0\.0\.1:1\/: connect ECONNREFUSED/)
})

t.test('usage of connect', async (t) => {
  const help = await connectWith(['--help'], null)
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: wsexec connect \[options\] URL/)
  for (const [argv, reason] of [
    [[], /connect: a URL is expected/],
    [['http://x/'], /connect: the URL starts with ws:\/\/ or wss:\/\//],
    [['ws://[bad/'], /connect: the URL starts with ws:\/\/ or wss:\/\//],
    [['ws://a/', 'ws://b/'], /connect: one URL only/],
    [['-H', 'nocolon', 'ws://a/'], /connect: -H takes 'Name: value'/],
    [['--bogus', 'ws://a/'], /connect: Unknown option '--bogus'/]
  ] as const) {
    const r = await connectWith([...argv], null)
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, reason)
    t.match(r.stderr, /^wsexec connect: .*\nTry 'wsexec connect --help' for more information\.\n$/, 'points at connect --help')
  }
  t.same(await connectWith([], null), {
    code: 2,
    stdout: '',
    stderr: 'wsexec connect: a URL is expected (ws://host:port/path)\nTry \'wsexec connect --help\' for more information.\n'
  }, 'no URL: a usage error pointing at wsexec connect --help')
  t.match((await connectWith(['--\x1b[2J', 'ws://a/'], null)).stderr, /Unknown option '--\\x1b\[2J'/, 'the argument escaped')
})

/** A small server speaking the Kubernetes channel protocols, as issue 13's routes will. */
async function channelServer (t: Test, onSession: (ws: WebSocket, protocol: string, received: Buffer[]) => void): Promise<{ url: string, offered: string[][] }> {
  const offered: string[][] = []
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => { offered.push([...protocols]); return [...protocols][0] ?? false } })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  await once(wss, 'listening')
  wss.on('connection', (ws) => {
    const received: Buffer[] = []
    ws.on('message', (data: Buffer) => received.push(data))
    onSession(ws, ws.protocol, received)
  })
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, offered }
}

t.test('--channels: stdin on channel 0, the v5 close signal, stdout/stderr apart, the Status\'s exit code', async (t) => {
  let sawInput!: (input: Buffer[]) => void
  const input = new Promise<Buffer[]>((resolve) => { sawInput = resolve })
  const server = await channelServer(t, (ws, protocol, received) => {
    ws.on('message', (data: Buffer) => {
      if (data[0] !== 255) return
      sawInput([...received])
      ws.send(Buffer.concat([Buffer.of(1), Buffer.from(`out via ${protocol}\n`)]))
      ws.send(Buffer.concat([Buffer.of(2), Buffer.from('err\n')]))
      ws.send(Buffer.concat([Buffer.of(3), Buffer.from('{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')]))
      ws.close(1000, 'exit 3')
    })
  })
  const r = await connectWith(['--channels', server.url], [Buffer.from('abc'), Buffer.from('de')])
  t.same(r, { code: 3, stdout: 'out via v5.channel.k8s.io\n', stderr: 'err\n' })
  t.same(server.offered, [[...CHANNEL_PROTOCOLS]])
  const received = await input
  t.same(received.map((b) => [...b]), [[0, ...Buffer.from('abc')], [0, ...Buffer.from('de')], [255, 0]], 'stdin on channel 0, then the close signal')
})

t.test('--channels on v4: no close signal; success; the close reason as a fallback; legacy text errors', async (t) => {
  const v4 = await channelServer(t, (ws) => {
    ws.send(Buffer.concat([Buffer.of(1), Buffer.from('hi\n')]))
    ws.send(Buffer.concat([Buffer.of(3), Buffer.from('{"metadata":{},"status":"Success"}')]))
    ws.close(1000, 'exit 0')
  })
  t.same(await connectWith(['--channels', `${v4.url}/`], null), { code: 0, stdout: 'hi\n', stderr: '' })
  const reasonOnly = await channelServer(t, (ws) => { ws.close(1000, 'exit 5') })
  t.equal((await connectWith(['--channels', reasonOnly.url], null)).code, 5)
  const legacy = await channelServer(t, (ws) => {
    ws.send(Buffer.of(3))
    ws.send(Buffer.concat([Buffer.of(3), Buffer.from('command terminated with non-zero exit code')]))
    ws.send(Buffer.of(7))
    ws.close(1000)
  })
  t.same(await connectWith(['--channels', legacy.url], null), { code: 1, stdout: '', stderr: 'wsexec connect: command terminated with non-zero exit code\n' })
  const closeOnly = await channelServer(t, (ws) => { ws.close(1000) })
  t.equal((await connectWith(['--channels', closeOnly.url], null)).code, 0)
})

t.test('plain servers that refuse, close without a status, or send odd tagged text', async (t) => {
  const refusing = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, done) => done(false, 401) })
  t.teardown(() => refusing.close())
  await once(refusing, 'listening')
  const refused = await connectWith([`ws://127.0.0.1:${(refusing.address() as { port: number }).port}/`], null)
  t.same(refused, { code: 255, stdout: '', stderr: `wsexec connect: cannot connect to ws://127.0.0.1:${(refusing.address() as { port: number }).port}/: 401 Unauthorized\n` })
  const going = await channelServer(t, (ws) => { ws.send('{"stream":"broken'); ws.close(1001, 'server shutting down') })
  t.same(await connectWith([going.url], null), { code: 255, stdout: '{"stream":"broken\n', stderr: 'wsexec connect: connection closed: 1001 server shutting down\n' })
  const bare = await channelServer(t, (ws) => { ws.close(1008) })
  t.same(await connectWith([bare.url], null), { code: 255, stdout: '', stderr: 'wsexec connect: connection closed: 1008\n' })
})

t.test('--tty in this process: raw mode on and off, sizes on channel 4 and on resize, keystrokes', async (t) => {
  let resized!: () => void
  const gotResize = new Promise<void>((resolve) => { resized = resolve })
  const server = await channelServer(t, (ws, _protocol, received) => {
    ws.on('message', (data: Buffer) => {
      if (data[0] === 4 && received.filter((m) => m[0] === 4).length === 2) resized()
      if (data[0] === 255) {
        ws.send(Buffer.concat([Buffer.of(3), Buffer.from('{"metadata":{},"status":"Success"}')]))
        ws.close(1000)
      }
    })
  })
  const wss = server.url
  const raw: boolean[] = []
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (on: boolean) => raw.push(on) })
  const stdout = Object.assign(new PassThrough(), { columns: 100, rows: 30 })
  stdout.resume()
  const done = main(['connect', '--tty', '--channels', `${wss}/x?y=1`], { stdout, stderr: stdout, stdin, env: {}, cwd: root })
  await until(() => server.offered.length === 1, 'the connection')
  stdin.write('a')
  stdout.columns = 120
  stdout.emit('resize')
  await gotResize
  stdin.end()
  t.equal(await done, 0)
  t.same(raw, [true, false], 'raw mode, then back')
  t.equal(stdout.listenerCount('resize'), 0, 'the resize listener is removed')
  const plain = await channelServer(t, (ws) => { ws.on('message', (data: Buffer, binary: boolean) => { if (binary && data.length === 0) ws.close(1000) }) })
  t.same(await connectWith(['--tty', plain.url], 'k'), { code: 0, stdout: '', stderr: '' }, 'no size known: none sent')
})

t.test('--tty under a real pseudo-terminal: raw keystrokes, the size, and the exit status', async (t) => {
  if (!needProgram(t, 'script')) return
  let got!: (messages: Array<{ data: string, binary: boolean }>, url: string) => void
  const seen = new Promise<[Array<{ data: string, binary: boolean }>, string]>((resolve) => { got = (m, u) => resolve([m, u]) })
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  await once(wss, 'listening')
  wss.on('connection', (ws, request) => {
    const messages: Array<{ data: string, binary: boolean }> = []
    ws.on('message', (data: Buffer, binary: boolean) => {
      messages.push({ data: data.toString(), binary })
      ws.send(Buffer.from(`echo:${data.toString()}`))
      // A single keystroke, without Enter, arrives on its own only in raw mode.
      // A copy: script types Ctrl-D when its own input ends, which may follow the close.
      if (binary && data.toString() === 'q') { got([...messages], request.url as string); ws.close(4003, 'exit 3') }
    })
  })
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/sh?x=1`
  const command = [process.execPath, ...process.execArgv, join(root, 'src/bin.ts'), 'connect', '--tty', url].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  const child = spawn('script', ['-qfec', `stty cols 100 rows 30; exec ${command}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString()
    // Type only once the client is connected (the first echo is of the size message).
    if (output.includes('echo:{"resize"') && !child.stdin.writableEnded) child.stdin.end('q')
  })
  const [messages, requestUrl] = await seen
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS * 3) }) as [number]
  t.equal(requestUrl, '/sh?x=1&cols=100&rows=30', 'the size in the query')
  t.same(messages[0], { data: '{"resize":{"cols":100,"rows":30}}', binary: false }, 'then a resize message')
  t.same(messages.at(-1), { data: 'q', binary: true }, 'a keystroke, without Enter')
  t.equal(code, 3, 'the exit status')
})

t.test('against wsexec\'s own channel and terminal routes', async (t) => {
  const s = await startServer(t, `/api/v1/namespaces/:ns/pods/:pod/exec:
  command: [sh, -c, "wc -c; echo warn >&2; exit 3"]
  params: { ns: "[a-z0-9-]+", pod: "[a-z0-9-]+" }
  protocols: [v5.channel.k8s.io, v4.channel.k8s.io]
/v4:
  command: [sh, -c, "echo four; exit 4"]
  protocols: [v4.channel.k8s.io]
/term:
  command: ${node('tty.mjs')}
  tty: true
  protocols: [v5.channel.k8s.io]
`)
  const exec = `${s.url}/api/v1/namespaces/default/pods/web/exec`
  t.same(await connectWith(['--channels', exec], 'abc\nde\n'), { code: 3, stdout: '7\n', stderr: 'warn\n' },
    'stdin to its end (v5 close signal), stdout and stderr apart, exit 3 from the Status')
  t.same(await connectWith(['--channels', `${exec}?stdin=false`], 'ignored\n'), { code: 3, stdout: '0\n', stderr: 'warn\n' }, 'the URL\'s own stdin=false wins')
  t.same(await connectWith(['--channels', `${s.url}/v4`], ''), { code: 4, stdout: 'four\n', stderr: '' }, 'v4: exit 4 from the Status')
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => {} })
  const stdout = Object.assign(new PassThrough(), { columns: 90, rows: 33 })
  let screen = ''
  let typed = false
  stdout.on('data', (d: Buffer) => {
    screen += d.toString()
    if (typed || !screen.includes('name? ')) return
    typed = true
    stdin.write('ada\r')
  })
  const code = await main(['connect', '--tty', '--channels', `${s.url}/term`], { stdout, stderr: stdout, stdin, env: {}, cwd: root })
  t.equal(code, 3, 'the terminal program\'s exit status')
  t.match(screen, /isatty true true\r\nsize 90x33\r\n/, 'a terminal of the local size (tty=true, cols, rows)')
  t.match(screen, /hello ada\r\nbye on stderr\r\n/, 'keystrokes in, stderr merged into the terminal')
})

t.test('connectMain with the real process streams prints its help', async (t) => {
  const stdout = new PassThrough()
  let out = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  t.equal(await connectMain(['-h'], { stdout, stderr: stdout }), 0)
  t.match(out, /Exit status/)
})
