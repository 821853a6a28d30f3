// Terminal programs start in the spawners: the server forks none, the terminal's bytes come
// through a socket each spawner relays, and a server killed with SIGKILL leaves no terminal program.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import t from 'tap'
import { parseConfig, type Route } from '../../src/config/load.js'
import { Program } from '../../src/session/program.js'
import { Lines } from '../../src/session/wire/lines.js'
import type { ProgramStarter, StartOutcome } from '../../src/spawner/pool.js'
import type { TerminalSize } from '../../src/spawner/protocol.js'
import { RemoteProgram } from '../../src/spawner/remote.js'
import { connect, DEADLINE_MS, until, type Client } from '../helpers/client.js'
import { readyPool } from '../helpers/pool.js'
import { watchFlow } from '../helpers/flow.js'
import { directChildren, isRunning, parentOf } from '../helpers/processes.js'
import { logged, serve } from '../helpers/served.js'
import { node, startServer } from '../helpers/server.js'
import type { Session } from '../../src/session/session.js'

/** How long terminal programs may outlive a server killed with SIGKILL (issue 24). */
const GONE_AFTER_KILL_MS = 5000

/** Everything the terminal showed so far. */
function screen (c: Client): string {
  return c.messages.map((m) => typeof m === 'string' ? m : m.toString('utf8')).join('')
}

async function shows (c: Client, text: string | RegExp): Promise<void> {
  await until(() => typeof text === 'string' ? screen(c).includes(text) : text.test(screen(c)), `the terminal to show ${String(text)}; it shows ${JSON.stringify(screen(c))}`)
}

/** True when the process `pid` runs the spawner's module. */
function isSpawner (children: Map<number, string>, pid: number | undefined): boolean {
  return pid !== undefined && (children.get(pid) ?? '').includes('spawner/worker.mjs')
}

t.test('a terminal program is a child of a spawner, the server\'s only children are its spawners, and SIGKILL of the server leaves no terminal program', async (t) => {
  const served = await serve(t, `
spawners: 1
routes:
  /sh:
    command: [bash, --norc, --noprofile]
    tty: true
    env: { PS1: "$ " }
    killGrace: 500ms
  /stubborn:
    command: [bash, --norc, --noprofile, -c, "trap '' HUP TERM; echo ready; while :; do sleep 0.1; done"]
    tty: true
    killGrace: 500ms
`, { drainTimeout: '1s' })
  const server = served.child.pid as number
  const sh = connect(`${served.url}/sh?cols=90&rows=33`)
  await shows(sh, '$ ')
  sh.ws.send('tty; stty size; sleep 1000 & echo "job=$!"\r')
  await shows(sh, /\/dev\/pts\/[0-9]+\r\n33 90\r\n/)
  await shows(sh, /job=[0-9]+/)
  const job = Number(/job=([0-9]+)/.exec(screen(sh))?.[1])
  const shell = (await logged(served, 'session start'))['childPid'] as number
  const stubborn = connect(`${served.url}/stubborn`)
  await shows(stubborn, 'ready')
  const stubbornPid = (await logged(served, 'session start', undefined, 2))['childPid'] as number

  const children = directChildren(server)
  t.equal(children.size, 1, 'the server has one child process')
  t.ok([...children.keys()].every((pid) => isSpawner(children, pid)), 'its spawner')
  t.ok(isSpawner(children, parentOf(shell)), 'the shell is a child of the spawner')
  t.ok(isSpawner(children, parentOf(stubbornPid)), 'so is the other terminal program')
  t.equal(parentOf(job), shell, 'the shell\'s job is the shell\'s child')

  const programs = [shell, job, stubbornPid]
  t.ok(programs.every(isRunning), 'the programs run')
  served.child.kill('SIGKILL')
  await served.exited
  await until(() => !programs.some(isRunning), 'every terminal program to end', GONE_AFTER_KILL_MS)
  t.pass('no terminal program is left, the job and one that ignores SIGHUP and SIGTERM included')
  const [spawner] = children.keys()
  await until(() => !isRunning(spawner as number), 'the spawner to exit')
})

t.test('through a spawner: TERM, size, resize, input, exit status and the close', async (t) => {
  const s = await startServer(t, `spawners: 1\nroutes:\n  /tty:\n    command: ${node('tty.mjs')}\n    tty: true\n  /killed:\n    command: [bash, --norc, --noprofile, -c, "echo dying; kill -TERM $$"]\n    tty: true\n`)
  const c = connect(`${s.url}/tty?cols=100&rows=30`)
  await shows(c, 'name? ')
  t.match(screen(c), 'isatty true true')
  t.match(screen(c), 'size 100x30')
  t.match(screen(c), 'term xterm-256color')
  const session = [...s.app.wsexec.sessions][0] as Session
  const spawner = s.logs.find((r) => r.msg === 'spawner ready')?.['spawnerPid']
  t.equal(parentOf(session.pid as number), spawner, 'the program is the spawner\'s child')
  c.ws.send(JSON.stringify({ resize: { cols: 120, rows: 40 } }))
  await shows(c, 'resized 120x40')
  c.ws.send('Ada\r')
  await shows(c, 'hello Ada')
  t.match(await c.closed, { code: 4003, reason: 'exit 3' })
  t.match(await session.done, { exitCode: 3 })

  const killed = connect(`${s.url}/killed`)
  t.match(await killed.closed, { code: 4143, reason: 'signal SIGTERM' }, 'a program killed by a signal')
  t.match(screen(killed), 'dying')
})

t.test('through a spawner: a terminal program that does not read its input stops the client\'s input; nothing is lost', async (t) => {
  const bytes = 4 * 1024 * 1024
  const s = await startServer(t, `spawners: 1\nroutes:\n  /sink:\n    command: ${node('tty-sink.mjs', String(bytes))}\n    tty: true\n`)
  const c = connect(`${s.url}/sink`)
  await shows(c, 'ready')
  const flow = watchFlow(t)
  const paused = flow.next('input-paused')
  const chunk = 'a'.repeat(64 * 1024)
  for (let sent = 0; sent < bytes; sent += chunk.length) c.ws.send(chunk)
  await paused
  t.pass('the server stopped reading the client: the terminal, the spawner and the socket are full')
  const resumed = flow.next('input-resumed')
  // The program reads once told to.
  process.kill((s.app.wsexec.sessions.values().next().value as Session).pid as number, 'SIGUSR1')
  await resumed
  await shows(c, `got ${bytes}`)
  t.match(await c.closed, { code: 1000, reason: 'exit 0' })
})

t.test('spawners: 0: the terminal program is the server\'s own child, resized in-process', async (t) => {
  const s = await startServer(t, `spawners: 0\nroutes:\n  /tty:\n    command: ${node('tty.mjs')}\n    tty: true\n`)
  const c = connect(`${s.url}/tty`)
  await shows(c, 'name? ')
  const session = [...s.app.wsexec.sessions][0] as Session
  t.equal(parentOf(session.pid as number), process.pid, 'forked by the server')
  c.ws.send(JSON.stringify({ resize: { cols: 120, rows: 40 } }))
  await shows(c, 'resized 120x40')
  c.ws.send('Bob\r')
  t.match(await c.closed, { code: 4003, reason: 'exit 3' })
})

t.test('a resize that comes before the spawner answered is set once the program runs', async (t) => {
  let answer!: (outcome: StartOutcome) => void
  const starter: ProgramStarter = { inFlight: 0, spawn: async () => await new Promise((resolve) => { answer = resolve }) }
  const route = parseConfig('routes:\n  /r:\n    command: [cat]\n    tty: true\n', 'test.yaml', '/').routes[0] as Route
  const streams = { channel: null, stdin: true, stdout: true, stderr: true, size: { cols: 80, rows: 24 } }
  const program = new Program({ route, file: '/bin/cat', args: [], env: {}, streams, lines: new Lines(), starter })
  const started = new Promise<void>((resolve) => {
    program.start({ started: resolve, output () {}, outputEnd () {}, stderrLine () {}, exit () {}, lost () {} }, () => {})
  })
  program.resize(100, 30)
  program.resize(120, 40)
  const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const sizes: TerminalSize[] = []
  answer({ program: new RemoteProgram(child.pid as number, [child.stdin as Socket, child.stdout as Socket], (size) => sizes.push(size)) })
  await started
  t.same(sizes, [{ cols: 120, rows: 40 }], 'the last size asked for, once')
  program.resize(90, 20)
  t.same(sizes, [{ cols: 120, rows: 40 }, { cols: 90, rows: 20 }], 'later ones at once')
})

t.test('a spawner out of descriptors answers a terminal start with failed: EMFILE, and opens terminals again once it has them', async (t) => {
  const { pool, pid } = await readyPool(t)
  const spec = { file: '/bin/true', args: [], argv0: 'true', cwd: undefined, env: {}, stderr: false, killGraceMs: 100, terminal: { cols: 80, rows: 24, term: 'xterm-256color' } }
  const [, hard] = readFileSync(`/proc/${pid}/limits`, 'utf8').match(/Max open files\s+\d+\s+(\d+)/) ?? []
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${readdirSync(`/proc/${pid}/fd`).length + 2}:${String(hard)}`])
  t.match(await pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS)), { error: { code: 'EMFILE' } })
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${String(hard)}:${String(hard)}`])
  const outcome = await pool.spawn(spec, AbortSignal.timeout(DEADLINE_MS))
  const program = (outcome as { program: RemoteProgram }).program
  t.equal(program.stdin, program.stdout, 'one socket: the terminal\'s input and output')
  // The spawner's exit may have come before this listener: it is kept until replay().
  const exited = once(program, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) })
  program.replay()
  const [code] = await exited
  t.equal(code, 0, 'the program ran and exited 0')
})
