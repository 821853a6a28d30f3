import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { connectMain, INTERRUPTED, type ConnectIO } from '../../src/cli/connect.js'
import { enterKeys } from '../../src/cli/connect-input.js'
import { root } from '../helpers/cli.js'
import { DEADLINE_MS, until } from '../helpers/client.js'
import { needProgram } from '../helpers/debian.js'
import { endedSessions, node, startServer } from '../helpers/server.js'

/** The real `wsexec connect` as a child process, its stdin a pipe. */
function cli (...args: string[]): ReturnType<typeof spawn> & { output: () => string } {
  const child = spawn(process.execPath, [...process.execArgv, join(root, 'src/bin.ts'), 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  return Object.assign(child, { output: () => output })
}

/** Runs connectMain in this process; `stdin` as given. */
async function run (argv: string[], stdin: ConnectIO['stdin'], signals?: EventEmitter): Promise<{ code: number, stdout: string, stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await connectMain(argv, { stdout, stderr, ...(stdin === undefined ? {} : { stdin }), ...(signals === undefined ? {} : { signals }) })
  return { code, stdout: out, stderr: err }
}

t.test('newlines become Enter: \\n and \\r\\n (split or not) give one \\r', async (t) => {
  const keys = enterKeys()
  t.same([...keys(Buffer.from('a\nb\r\nc\r'))], [...Buffer.from('a\rb\rc\r')])
  t.equal(keys(Buffer.from('\n')).length, 0, 'the \\n of a \\r\\n split between chunks')
  t.same([...keys(Buffer.from('\nd'))], [...Buffer.from('\rd')], 'a \\n after that is Enter again')
})

t.test('a tty route\'s 101 answer says Wsexec-Tty: true; other routes\' say nothing', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n/tcat:\n  command: [cat]\n  tty: true\n')
  const header = async (path: string): Promise<unknown> => {
    const ws = new WebSocket(`${s.url}${path}`)
    const [response] = await once(ws, 'upgrade', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [{ headers: Record<string, unknown> }]
    ws.close()
    await once(ws, 'close', { signal: AbortSignal.timeout(DEADLINE_MS) })
    return response.headers['wsexec-tty']
  }
  t.equal(await header('/tcat'), 'true')
  t.equal(await header('/cat'), undefined)
})

t.test('printf \'echo hi\\nexit 2\\n\' | wsexec connect …/bash (a tty route): both commands run, exit 2', async (t) => {
  if (!needProgram(t, 'bash')) return
  const s = await startServer(t, '/bash:\n  command: [bash, --norc, --noprofile]\n  tty: true\n  env: { PS1: "$ " }\n')
  const child = cli(`${s.url}/bash`)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  child.stdin?.end('echo hi\nexit 2\n')
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS * 3) }) as [number]
  t.equal(code, 2, child.output())
  t.match(child.output(), /[\r\n]hi\r\n/, 'echo hi ran: its output on a line of its own')
  t.notMatch(child.output(), /hiexit/, 'the lines were not run together')
})

t.test('a tty route fed line by line: Enter for each line, Ctrl-D at the end; a hint for a terminal without --tty', async (t) => {
  const s = await startServer(t, `/cat:
  command: [cat]
  tty: true
/term:
  command: ${node('tty.mjs')}
  tty: true
  protocols: [v5.channel.k8s.io]
`)
  const raw: boolean[] = []
  const typing = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (on: boolean) => raw.push(on) })
  typing.write('one\n')
  typing.end('two\r\n')
  const r = await run([`${s.url}/cat`], typing)
  t.equal(r.code, 0, 'cat read Ctrl-D as its end of input')
  t.match(r.stdout, /one\r\n(.*\r\n)?two\r\n/s)
  t.same(raw, [], 'no raw mode without --tty')
  t.equal(r.stderr, `wsexec connect: ${s.url}/cat is a terminal: lines are typed with Enter; give --tty for raw keystrokes and the window's size\n`)
  const piped = new PassThrough()
  piped.end('ada\n')
  const term = await run(['--channels', `${s.url}/term`], piped)
  t.equal(term.code, 3, 'v5: the close signal types Ctrl-D; the exit status from the Status')
  t.match(term.stdout, /hello ada\r\n/, 'a channel session on a tty route types Enter too')
  t.equal(term.stderr, '', 'no hint with a pipe')
})

t.test('Ctrl-C (SIGINT to a real wsexec connect) closes the session with 1000; the server logs a client\'s close', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n')
  const child = cli(`${s.url}/cat`)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  child.stdin?.write('ping\n')
  await until(() => child.output().includes('ping\n'), 'the echo of the first line')
  child.kill('SIGINT')
  const [code, signal] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number | null, string | null]
  t.same([code, signal], [INTERRUPTED, null], 'exit 130, not killed by the signal')
  t.equal(child.output(), 'ping\n', 'nothing more said')
  await endedSessions(s, 1)
  t.match(s.logs.find((r) => r.msg === 'session end'), { route: '/cat', closeCode: 1000, closedBy: 'client' })
})

t.test('SIGINT before the open drops the attempt; a second SIGINT drops the connection at once', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  await once(wss, 'listening', { signal: AbortSignal.timeout(DEADLINE_MS) })
  wss.on('connection', (ws) => ws.send('hello'))
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`
  const early = new EventEmitter()
  const first = run([url], undefined, early)
  early.emit('SIGINT')
  t.same(await first, { code: INTERRUPTED, stdout: '', stderr: '' })
  t.equal(early.listenerCount('SIGINT'), 0, 'the listener is removed')
  const signals = new EventEmitter()
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  let out = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  const twice = connectMain([url], { stdout, stderr: stdout, stdin, signals })
  await until(() => out === 'hello\n', 'the first message')
  signals.emit('SIGINT')
  signals.emit('SIGINT')
  t.equal(await twice, INTERRUPTED)
  t.equal(out, 'hello\n')
})
