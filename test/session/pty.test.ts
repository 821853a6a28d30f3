import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import t from 'tap'
import { connect, DEADLINE_MS, until, type Client } from '../helpers/client.js'
import { needProgram } from '../helpers/debian.js'
import { watchFlow } from '../helpers/flow.js'
import { sessionGroups, TerminalProcess } from '../../src/session/pty.js'
import type { Session } from '../../src/session/session.js'
import { isRunning } from '../helpers/processes.js'
import { closeCodeOf, frame, rawUpgrade } from '../helpers/raw.js'
import { fixture, node, startServer } from '../helpers/server.js'

/** Everything the terminal showed so far. */
function screen (c: Client): string {
  return c.messages.map((m) => typeof m === 'string' ? m : m.toString('utf8')).join('')
}

async function shows (c: Client, text: string | RegExp): Promise<void> {
  await until(() => typeof text === 'string' ? screen(c).includes(text) : text.test(screen(c)), `the terminal to show ${String(text)}; it shows ${JSON.stringify(screen(c))}`)
}

function processGroupOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
}

t.test('sessionGroups: every process group of the session, from /proc; a process that ends while /proc is read is skipped', async (t) => {
  const proc = t.testdir({
    100: { stat: '100 (bash) S 1 100 100 34816 100 4194560' },
    // A job of that shell in a group of its own; its name holds spaces and parentheses.
    102: { stat: '102 (a) b (c) S 100 102 100 34816 100 4194560' },
    // Another session: not ours.
    103: { stat: '103 (sleep) S 1 103 103 0 -1 4194560' },
    // Listed, then gone before its stat was read.
    104: {},
    self: {}
  })
  t.same(sessionGroups(100, proc).sort(), [100, 102])
  t.same(sessionGroups(7, proc), [7], 'the session\'s own group even when /proc has nothing of it')
  t.ok(sessionGroups(process.pid).length >= 1, 'the real /proc reads')
})

t.test('a tty route runs the program on a terminal: isatty, size from the query, TERM, resize, prompt, exit status', async (t) => {
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n`)
  const c = connect(`${s.url}/tty?cols=100&rows=30`)
  await shows(c, 'name? ')
  t.match(screen(c), 'isatty true true')
  t.match(screen(c), 'size 100x30')
  t.match(screen(c), 'term xterm-256color')
  t.ok(c.messages.every((m) => typeof m === 'string'), 'text frames on a text-mode route')
  c.ws.send(JSON.stringify({ resize: { cols: 120, rows: 40 } }))
  await shows(c, 'resized 120x40')
  c.ws.send('Ada\r')
  await shows(c, 'hello Ada')
  t.match(screen(c), 'Ada\r\n', 'the terminal echoes the keystrokes, and turns Enter into a new line')
  t.match(await c.closed, { code: 4003, reason: 'exit 3' })
})

t.test('ttySize is the size without a query; TERM from the route wins', async (t) => {
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n  ttySize: { cols: 132, rows: 50 }\n  env: { TERM: vt100 }\n  mode: binary\n`)
  const c = connect(`${s.url}/tty`)
  await shows(c, 'name? ')
  t.match(screen(c), 'size 132x50')
  t.match(screen(c), 'term vt100')
  t.ok(c.messages.every((m) => Buffer.isBuffer(m)), 'binary frames on a binary-mode route')
  c.ws.send(Buffer.from('Bob\r'))
  t.match(await c.closed, { code: 4003 })
})

t.test('the default terminal is 80x24', async (t) => {
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n`)
  const c = connect(`${s.url}/tty`)
  await shows(c, 'size 80x24')
  c.ws.close()
  await c.closed
})

// In a spawner (the default) and in the server (spawners: 0): each starts the terminal itself.
for (const spawners of [1, 0]) {
  t.test(`spawners: ${spawners}: python3 -i shows its prompt; an empty binary message types Ctrl-D and ends it`, async (t) => {
    if (!needProgram(t, 'python3')) return
    const s = await startServer(t, `spawners: ${spawners}\nroutes:\n  /py:\n    command: [python3, -i, -q]\n    tty: true\n    cwd: /\n`)
    const c = connect(`${s.url}/py`)
    await shows(c, '>>> ')
    c.ws.send('print(6 * 7)\r')
    await shows(c, '42\r\n>>> ')
    c.ws.send(Buffer.alloc(0))
    t.match(await c.closed, { code: 1000, reason: 'exit 0' })
  })
}

t.test('bash: tty, stty size, job control; closing the session ends every process of the terminal', async (t) => {
  const s = await startServer(t, '/sh:\n  command: [bash, --norc, --noprofile]\n  tty: true\n  env: { PS1: "$ " }\n  closeGrace: 100ms\n  killGrace: 500ms\n')
  const c = connect(`${s.url}/sh?cols=90&rows=33`)
  await shows(c, '$ ')
  c.ws.send('tty; stty size\r')
  await shows(c, /\/dev\/pts\/[0-9]+\r\n33 90\r\n/)
  c.ws.send('sleep 1000 & echo "job=$!"\r')
  await shows(c, /job=[0-9]+/)
  const job = Number(/job=([0-9]+)/.exec(screen(c))?.[1])
  c.ws.send('jobs\r')
  await shows(c, /\[1\]\+\s+Running\s+sleep 1000 &/)
  const shell = [...s.app.wsexec.sessions][0]?.pid as number
  t.not(processGroupOf(job), processGroupOf(shell), 'the job has a process group of its own (job control)')
  c.ws.send(JSON.stringify({ resize: { cols: 70, rows: 20 } }))
  c.ws.send('stty size\r')
  await shows(c, '20 70\r\n')
  c.ws.close()
  await c.closed
  await until(() => !isRunning(job) && !isRunning(shell), 'the shell and its job to end')
  t.pass('the shell and its background job are gone')
})

t.test('a program that ignores the hang-up and SIGTERM is killed after the graces', async (t) => {
  const s = await startServer(t, '/stubborn:\n  command: [bash, --norc, --noprofile, -c, "trap \'\' HUP TERM; echo ready; while :; do sleep 0.1; done"]\n  tty: true\n  closeGrace: 50ms\n  killGrace: 200ms\n')
  const c = connect(`${s.url}/stubborn`)
  await shows(c, 'ready')
  const session = [...s.app.wsexec.sessions][0]
  const pid = session?.pid as number
  c.ws.close()
  const summary = await session?.done
  t.match(summary, { signal: 'SIGKILL', closedBy: 'client' })
  t.notOk(isRunning(pid))
})

t.test('resize controls: malformed JSON is input, a JSON resize without a valid size is ignored with a log line, ttyControl none makes it input', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n  tty: true\n/raw:\n  command: [cat]\n  tty: true\n  ttyControl: none\n')
  const c = connect(`${s.url}/cat`)
  await c.opened
  c.ws.send('{"resize":{"cols":0,"rows":10}}')
  c.ws.send('{"resize":"big"}')
  c.ws.send('{"resize":null}')
  c.ws.send('{"resize":{"cols":80}}')
  c.ws.send('{"resize":{"cols":80,\r')
  await shows(c, '{"resize":{"cols":80,\r\n')
  c.ws.send('{"size":1}')
  c.ws.send('\r[1]\r')
  await shows(c, '{"size":1}\r\n[1]\r\n')
  t.notMatch(screen(c), '"cols":0', 'the invalid resizes were not input')
  t.equal(s.logs.filter((r) => r.msg === 'message ignored' && r['reason'] === 'resize message without valid cols and rows').length, 4, 'one log line each')
  c.ws.send(Buffer.alloc(0))
  t.match(await c.closed, { code: 1000 })

  const raw = connect(`${s.url}/raw`)
  await raw.opened
  raw.ws.send('{"resize":{"cols":70,"rows":20}}\r')
  await shows(raw, '{"resize":{"cols":70,"rows":20}}\r\n')
  raw.ws.close()
  await raw.closed
})

t.test('text frames are valid UTF-8 even when a character is split between reads', async (t) => {
  // printf writes the first byte of "é", waits, then the second: two reads of the terminal.
  const s = await startServer(t, '/split:\n  command: [bash, --norc, --noprofile, -c, "printf \'\\\\303\'; sleep 0.2; printf \'\\\\251\\\\377 end\'"]\n  tty: true\n')
  const c = connect(`${s.url}/split`)
  t.match(await c.closed, { code: 1000 })
  t.ok(c.messages.every((m) => typeof m === 'string'), 'text frames only')
  t.equal(screen(c), 'é\ufffd end', 'the split character whole, an invalid byte replaced')
})

t.test('a tty route whose program cannot be executed reports it as output and an exit status', async (t) => {
  const dir = t.testdir({ 'bad-interpreter': '#!/nonexistent/wsexec-interpreter\n' })
  chmodSync(join(dir, 'bad-interpreter'), 0o755)
  const s = await startServer(t, `/gone:\n  command: [${JSON.stringify(join(dir, 'bad-interpreter'))}]\n  tty: true\n`)
  const c = connect(`${s.url}/gone`)
  t.match(await c.closed, { code: 4001, reason: 'exit 1' })
  t.match(screen(c), 'execvp(3) failed')
})

for (const spawners of [1, 0]) {
  t.test(`spawners: ${spawners}: input and resizes that come after the program ended are dropped`, async (t) => {
    const s = await startServer(t, `spawners: ${spawners}\nroutes:\n  /true:\n    command: [bash, -c, "echo bye"]\n    tty: true\n`)
    const c = await rawUpgrade(s.port, '/true')
    while (closeCodeOf(c.received()) === undefined) await once(c.socket, 'data', { signal: AbortSignal.timeout(DEADLINE_MS) })
    // The server has sent its close frame; until the client answers, its messages still arrive.
    c.socket.write(Buffer.concat([frame(0x1, Buffer.from('{"resize":{"cols":10,"rows":5}}')), frame(0x1, Buffer.from('late')), frame(0x8, Buffer.from([0x03, 0xe8]))]))
    await c.closed
    const [session] = s.app.wsexec.sessions
    t.match(await session?.done, { exitCode: 0, in: { messages: 2 } })
    t.equal(closeCodeOf(c.received()), 1000)
  })
}

t.test('a client that stops reading stops the terminal program; nothing is lost', async (t) => {
  const s = await startServer(t, `/yes:\n  command: ${node('yes.mjs')}\n  tty: true\n  mode: binary\n  closeGrace: 100ms\n  killGrace: 100ms\n`)
  const c = connect(`${s.url}/yes`)
  await c.opened
  const session = [...s.app.wsexec.sessions][0] as Session
  const flow = watchFlow(t)
  const paused = flow.next('output-paused', session.id)
  c.ws.pause()
  await paused
  const resumed = flow.next('output-resumed', session.id)
  c.ws.resume()
  await resumed
  const lines = screen(c).split('\r\n').slice(0, 20_000)
  t.ok(lines.every((line, i) => line === `y ${i}`), 'every line in order')
  c.ws.close()
  await session.done
})

t.test('a terminal whose output is not read stops reading the terminal, and loses nothing', async (t) => {
  const program = new TerminalProcess({ file: process.execPath, args: [fixture('yes.mjs'), '50000'], env: { PATH: process.env['PATH'] as string }, cwd: undefined, cols: 80, rows: 24 })
  const exited = once(program, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS * 3) })
  program.stdout.pause()
  // Once its buffer is full, the wrapper has told node-pty to stop reading the terminal.
  await until(() => program.stdout.readableLength >= program.stdout.readableHighWaterMark, 'a full buffer')
  const chunks: Buffer[] = []
  program.stdout.on('data', (d: Buffer) => chunks.push(d))
  program.stdout.resume()
  t.same(await exited, [0, null], 'exit 0')
  const lines = Buffer.concat(chunks).toString().split('\r\n')
  t.equal(lines.length, 50_001)
  t.ok(lines.slice(0, 50_000).every((line, i) => line === `y ${i}`), 'every line, in order')
})

t.test('in the server (spawners: 0): a resize or a hang-up after the exit does nothing', async (t) => {
  const program = new TerminalProcess({ file: '/bin/true', args: [], env: {}, cwd: undefined, cols: 80, rows: 24 })
  program.stdout.resume()
  t.same(await once(program, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }), [0, null])
  program.resize(10, 5)
  program.hangUp()
  t.pass('no error: the terminal is closed')

  const sleeper = new TerminalProcess({ file: '/bin/sleep', args: ['1000'], env: {}, cwd: undefined, cols: 80, rows: 24 })
  sleeper.stdout.resume()
  const exited = once(sleeper, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) })
  sleeper.stdin.end()
  t.same(await exited, [null, 'SIGHUP'], 'the end of input hangs the terminal up')
})
