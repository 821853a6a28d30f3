import { EventEmitter, once } from 'node:events'
import { spawn } from 'node:child_process'
import { lstat, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { main, type CliIO } from '../../src/cli/main.js'
import { connect, DEADLINE_MS } from '../helpers/client.js'

/** A running `main()` whose JSON log lines can be awaited. */
interface Running {
  url: string
  signals: EventEmitter
  records: Array<Record<string, unknown>>
  /** What was written to stderr (one-line failures). */
  stderr: () => string
  logged (msg: string, count?: number): Promise<Record<string, unknown>>
  done: Promise<number>
}

async function start (t: Test, argv: string[], dir: string, env: CliIO['env'] = { PATH: process.env['PATH'] }): Promise<Running> {
  const signals = new EventEmitter()
  const stdout = new PassThrough()
  const records: Array<Record<string, unknown>> = []
  let pending = ''
  stdout.on('data', (d: Buffer) => {
    pending += d.toString()
    const lines = pending.split('\n')
    pending = lines.pop() as string
    for (const line of lines) records.push(JSON.parse(line) as Record<string, unknown>)
    stdout.emit('records')
  })
  const logged = async (msg: string, count = 1): Promise<Record<string, unknown>> => {
    const signal = AbortSignal.timeout(DEADLINE_MS)
    while (records.filter((r) => r['msg'] === msg).length < count) await once(stdout, 'records', { signal })
    return records.filter((r) => r['msg'] === msg)[count - 1] as Record<string, unknown>
  }
  let url = ''
  const listening = once(signals, 'listening')
  const stderr = new PassThrough()
  let errText = ''
  stderr.on('data', (d: Buffer) => { errText += d.toString() })
  const done = main(argv, { stdout, stderr, env, cwd: dir, signals, onListening: (u) => { url = u; signals.emit('listening') } })
  t.teardown(async () => { signals.emit('SIGTERM', 'SIGTERM'); signals.emit('SIGTERM', 'SIGTERM'); await done })
  await Promise.race([listening, done])
  return { url, signals, records, stderr: () => errText, logged, done }
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-ops-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('a reload that fails for an unexpected reason (a bug) is logged as one, never as a configuration problem', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'routes.yaml'), 'routes:\n  /one:\n    command: [echo, one]\n')
  // The server's environment breaks after start-up: reading it during the reload throws.
  let broken = false
  const env = new Proxy({ PATH: process.env['PATH'] }, {
    get (target, name) {
      if (broken) throw new TypeError('environment of a test broke')
      return Reflect.get(target, name)
    }
  })
  const r = await start(t, ['-c', 'routes.yaml', '--port', '0', '--drain-timeout', '0'], dir, env)
  broken = true
  r.signals.emit('SIGHUP')
  const record = await r.logged('reload failed: unexpected error (a bug in wsexec; please report it); the running configuration stays')
  t.match(record, { level: 50, err: { type: 'TypeError', message: 'environment of a test broke' } })
  t.notOk(r.records.some((x) => x['msg'] === 'reload rejected: the running configuration stays' || 'problems' in x), 'not a configuration problem')
  broken = false
  t.same((await connect(`${r.url.replace('http', 'ws')}/one`).received(1)), ['one'], 'the running configuration still serves')
})

t.test('SIGHUP reloads: a valid file takes effect, an invalid one is rejected with its position', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'routes:\n  /one:\n    command: [echo, one]\n')
  const r = await start(t, ['-c', 'routes.yaml', '--port', '0', '--drain-timeout', '0'], dir)
  const ws = r.url.replace('http', 'ws')
  t.same((await connect(`${ws}/one`).received(1)), ['one'])

  await writeFile(file, 'routes:\n  /two:\n    command: [echo, two]\n')
  r.signals.emit('SIGHUP')
  t.match(await r.logged('configuration reloaded'), { source: 'routes.yaml', routes: 1 })
  t.same((await connect(`${ws}/two`).received(1)), ['two'])

  await writeFile(file, 'routes:\n  /three:\n    command: [echo]\n    mode: txt\n')
  r.signals.emit('SIGHUP')
  t.match(await r.logged('reload rejected: the running configuration stays'), { level: 50, problems: /routes\.yaml:4:11: routes\.\/three\.mode: must be one of text, binary/ })
  t.same((await connect(`${ws}/two`).received(1)), ['two'], 'the old configuration still serves')

  await writeFile(file, 'listen: { port: 1 }\nroutes:\n  /two:\n    command: [echo, two]\n')
  r.signals.emit('SIGHUP')
  t.match(await r.logged('configuration reloaded', 2), { routes: 1 })
  t.notOk(r.records.some((x) => x['msg'] === 'listen changed: restart to apply it'), 'the --port flag still wins')
  r.signals.emit('SIGTERM', 'SIGTERM')
  t.equal(await r.done, 0)
})

t.test('a reload that changes where to listen says a restart is needed', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'listen: { host: 127.0.0.1, port: 0 }\nroutes:\n  /one:\n    command: [cat]\n')
  const r = await start(t, ['-c', file], dir)
  await writeFile(file, 'listen: { host: 127.0.0.1, port: 1 }\nroutes:\n  /one:\n    command: [cat]\n')
  r.signals.emit('SIGHUP')
  t.match(await r.logged('listen changed: restart to apply it'), { level: 40, listen: '127.0.0.1:1' })
})

t.test('--watch reloads when the file changes', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'routes:\n  /one:\n    command: [echo, one]\n')
  await writeFile(join(dir, 'other.yaml'), '')
  const r = await start(t, ['-c', 'routes.yaml', '--port', '0', '--watch'], dir)
  await writeFile(join(dir, 'other.yaml'), 'not watched')
  await writeFile(file, 'routes:\n  /two:\n    command: [echo, two]\n')
  await r.logged('configuration reloaded')
  t.same((await connect(`${r.url.replace('http', 'ws')}/two`).received(1)), ['two'])
})

t.test('--socket listens on a Unix socket; a stale socket file is replaced, a live one is not', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'wsexec.sock')
  // A socket file left behind by a server that was killed.
  const killed = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
  await once(killed, 'exit')
  t.ok((await lstat(path)).isSocket(), 'a stale socket file')
  await writeFile(join(dir, 'routes.yaml'), `listen: { socket: ${path} }\nroutes:\n  /env:\n    command: [/usr/bin/env]\n`)
  const r = await start(t, ['-c', 'routes.yaml', '--log-level', 'info'], dir)
  t.equal(r.url, `unix:${path}`)
  const c = connect(`ws+unix://${path}:/env`)
  await c.closed
  t.ok(c.messages.includes('REMOTE_ADDR='), 'no remote address on a Unix socket')
  t.ok(c.messages.includes('SERVER_PORT=0'))

  const second = await start(t, ['--socket', path, '--', 'cat'], dir)
  t.equal(await second.done, 1, 'a socket in use is not taken over')
  t.equal(second.stderr(), `wsexec: cannot listen on ${path}: address already in use\n`, 'one line, no stack')
  const onFile = await start(t, ['--socket', join(dir, 'routes.yaml'), '--', 'cat'], dir)
  t.equal(await onFile.done, 1, 'a file that is not a socket is never removed')
  const fresh = await start(t, ['--socket', join(dir, 'fresh.sock'), '--', 'cat'], dir)
  t.equal(fresh.url, `unix:${join(dir, 'fresh.sock')}`)
})

t.test('metrics on their own port from the command line', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'routes.yaml'), 'metrics: { port: 0 }\nroutes:\n  /a:\n    command: [cat]\n')
  const r = await start(t, ['-c', 'routes.yaml', '--port', '0', '--log-level', 'debug'], dir)
  const m = await r.logged('metrics listening')
  const res = await fetch(`${m['url'] as string}/metrics`)
  t.equal(res.status, 200)
  t.match(await res.text(), /wsexec_sessions_active/)
})

t.test('a metrics port in use is a runtime failure', async (t) => {
  const dir = await tempDir(t)
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  await writeFile(join(dir, 'routes.yaml'), `metrics: { port: ${port}, host: 127.0.0.1 }\nroutes:\n  /a:\n    command: [cat]\n`)
  const r = await start(t, ['-c', 'routes.yaml', '--port', '0'], dir)
  t.equal(await r.done, 1)
})

t.test('--dir serves a script added after start-up, as websocketd finds each request\'s file', async (t) => {
  const dir = await tempDir(t)
  const outside = await tempDir(t)
  await writeFile(join(dir, 'one.sh'), '#!/bin/sh\necho one\n', { mode: 0o755 })
  const r = await start(t, ['--dir', dir, '--port', '0', '--log-level', 'info'], dir)
  const ws = r.url.replace('http', 'ws')
  // Written elsewhere and renamed in: the folder sees the whole script at once.
  await writeFile(join(outside, 'two.sh'), '#!/bin/sh\necho two\n', { mode: 0o755 })
  await rename(join(outside, 'two.sh'), join(dir, 'two.sh'))
  t.match(await r.logged('configuration reloaded'), { routes: 2 })
  t.same(await connect(`${ws}/two.sh`).received(1), ['two'])
  t.same(await connect(`${ws}/one.sh`).received(1), ['one'])
})
