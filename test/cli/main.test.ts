import { spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.js'
import { terminalLine } from '../../src/logger.js'
import { VERSION } from '../../src/version.js'
import { root, runCli } from '../helpers/cli.js'
import { START_DEADLINE_MS } from '../helpers/served.js'
import { connect, DEADLINE_MS } from '../helpers/client.js'

const run = runCli

async function tempConfig (t: Test, yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'routes.yaml')
  await writeFile(file, yaml)
  return file
}

t.test('--help and --version', async (t) => {
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: wsexec \[options\]/)
  t.match(help.stdout, /--check/)
  t.same(await run(['-v']), { code: 0, stdout: `wsexec ${VERSION}\n`, stderr: '' })
})

t.test('usage errors exit 2 with the reason and one line pointing at --help', async (t) => {
  for (const [argv, reason] of [
    [['--nope'], /Unknown option '--nope'/],
    [['--port', 'http'], /--port must be a number from 0 to 65535, not "http"/],
    [['--port', '70000'], /--port must be a number/],
    [['--port'], /--port needs a value/],
    [['--log-level', 'loud'], /--log-level must be one of trace, debug, info, warn, error, fatal, silent, not "loud"/],
    [['--'], /a command is expected after --/],
    [['--config', 'x.yaml', '--', 'cat'], /a command and --config exclude each other/],
    [['--dir', '.', 'cat'], /a command and --dir exclude each other/],
    [['--watch', '--', 'cat'], /--watch needs a routes file/],
    [['--drain-timeout', 'soon'], /--drain-timeout: Invalid duration: "soon"/]
  ] as const) {
    const r = await run([...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, reason)
    t.match(r.stderr, /\nTry 'wsexec --help' for more information\.\n$/)
    t.notMatch(r.stderr, /Usage:/, 'not the whole help')
    t.equal(r.stderr.split('\n').length, 3, 'two lines')
  }
})

t.test('--check validates the bundled configuration and prints its routes', async (t) => {
  const r = await run(['--check'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^config\/routes\.yaml: valid, \d+ routes, listen 127\.0\.0\.1:8080\n/)
  t.match(r.stdout, /\n {2}\/count\/:n {2}seq 1 \{n\} {2}\[text, stderr log; n: \^\[0-9\]\{1,6\}\$\]\n/)
})

t.test('--check marks terminal routes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-check-tty-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'r.yaml'), 'routes:\n  /sh:\n    command: [sh]\n    tty: true\n  /cat:\n    command: [cat]\n')
  const r = await run(['--check', '-c', join(dir, 'r.yaml')])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /\n {2}\/sh {2}sh {2}\[tty, text\]\n {2}\/cat {2}cat {2}\[text, stderr log\]\n/)
})

t.test('--check on the one-liner, with or without --', async (t) => {
  const r = await run(['--check', '--port', '9000', '--', 'cat', '-u'])
  t.equal(r.stdout, '<command line>: valid, 1 route, listen 127.0.0.1:9000\n  /  cat -u  [text, stderr log]\n')
  t.same(await run(['--check', '--port=9000', 'cat', '-u']), r, 'a positional command, as websocketd takes it')
})

t.test('--check on a broken configuration shows file:line:column: key and exits 2', async (t) => {
  const file = await tempConfig(t, 'routes:\n  /bc:\n    command: [bc, -q]\n    mode: txt\n  /x:\n    command: [no-such-program-here]\n')
  const r = await run(['--check', '-c', file])
  t.equal(r.code, 2)
  t.equal(r.stderr, `wsexec: Invalid configuration:\n${file}:4:11: routes./bc.mode: must be one of text, binary\n${file}:6:15: routes./x.command.0: program "no-such-program-here" not found in PATH ${process.env['PATH'] as string}\n`, 'schema and programs in one run')
  const missing = await tempConfig(t, 'routes:\n  /x:\n    command: [no-such-program-here]\n  /y:\n    command: [./nope.sh]\n  /z:\n    command: [cat]\n    cwd: nowhere\n')
  const m = await run(['--check', '--config', missing])
  t.equal(m.code, 2)
  t.match(m.stderr, `${missing}:3:15: routes./x.command.0: program "no-such-program-here" not found in PATH`)
  t.match(m.stderr, /:5:15: routes\.\/y\.command\.0: \/.*\/nope\.sh does not exist/)
  t.match(m.stderr, /:8:10: routes\.\/z\.cwd: \/.*\/nowhere is not a folder/)
  t.equal((await run(['--check', '-c', 'no/such/file.yaml'])).stderr, 'wsexec: Invalid configuration:\nno/such/file.yaml:1:1: cannot read the file (ENOENT)\n')
})

t.test('executables: PATH lookup, relative paths, not executable, not a file', async (t) => {
  const file = await tempConfig(t, `routes:
  /a:
    command: [cat]
    env: { PATH: /nonexistent::/usr/bin }
  /b:
    command: [./routes.yaml]
  /c:
    command: [/tmp]
  /d:
    command: [sh]
    passEnv: []
  /e:
    command: [cat]
    cwd: routes.yaml
`)
  const r = await run(['--check', '-c', file])
  t.equal(r.code, 2)
  t.notMatch(r.stderr, 'routes./a.', 'found in the route\'s own PATH')
  t.match(r.stderr, /routes\.\/b\.command\.0: \/.*\/routes\.yaml is not executable/)
  t.match(r.stderr, /routes\.\/c\.command\.0: \/tmp is not a file/)
  t.notMatch(r.stderr, 'routes./d.', 'found in the default PATH when none is passed')
  t.match(r.stderr, /routes\.\/e\.cwd: \/.*\/routes\.yaml is not a folder/)
})

t.test('serves until stopped; --host and --port override the file', async (t) => {
  const file = await tempConfig(t, 'listen: { host: 0.0.0.0, port: 1 }\nshutdown: { drainTimeout: 100ms }\nroutes:\n  /echo:\n    command: [cat]\n')
  const stop = new AbortController()
  let url = ''
  let listening!: () => void
  const listened = new Promise<void>((resolve) => { listening = resolve })
  const done = run(['-c', file, '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], { stop: stop.signal, onListening: (u) => { url = u; listening() } })
  await listened
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const c = connect(`${url.replace('http', 'ws')}/echo`)
  await c.opened
  c.ws.send('hi')
  t.same(await c.received(1), ['hi'])
  stop.abort()
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.equal((await done).code, 0, 'exit 0 after the stop')
})

t.test('the one-liner serves a command at /; a second signal kills sessions at once', async (t) => {
  const signals = new EventEmitter()
  const stdout = new PassThrough()
  const lines: string[] = []
  stdout.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')))
  let url = ''
  const listening = once(signals, 'listening')
  const done = main(['--port', '0', '--drain-timeout', '60000', '--', process.execPath, fileURLToPath(new URL('../fixtures/ignore-term.mjs', import.meta.url))], {
    stdout,
    stderr: stdout,
    env: { PATH: process.env['PATH'] },
    cwd: root,
    signals,
    onListening: (u) => { url = u; signals.emit('listening') }
  })
  await listening
  const c = connect(`${url.replace('http', 'ws')}/`)
  t.same(await c.received(1), ['ready'])
  signals.emit('SIGTERM', 'SIGTERM')
  // The session may go on draining for a minute; the second signal ends it now.
  signals.emit('SIGINT', 'SIGINT')
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.equal(await done, 0)
  t.equal(signals.listenerCount('SIGTERM'), 0, 'signal handlers removed')
  const records = lines.map((l) => JSON.parse(l) as { msg: string, signal?: string })
  t.match(records.map((r) => r.msg), ['listening on http://127.0.0.1:' + url.split(':').at(-1), `route ws://127.0.0.1:${url.split(':').at(-1) as string}/… → ${process.execPath} ${fileURLToPath(new URL('../fixtures/ignore-term.mjs', import.meta.url))}`, 'session start', 'draining', 'second signal: killing every session now'])
})

t.test('a port in use is a runtime failure (exit 1)', async (t) => {
  const stop = new AbortController()
  let url = ''
  let listening!: () => void
  const listened = new Promise<void>((resolve) => { listening = resolve })
  const first = run(['--port', '0', '--', 'cat'], { stop: stop.signal, onListening: (u) => { url = u; listening() } })
  await listened
  const second = await run(['--port', url.split(':').at(-1) as string, '--', 'cat'])
  t.equal(second.code, 1)
  t.equal(second.stderr, `wsexec: cannot listen on 127.0.0.1:${url.split(':').at(-1) as string}: address already in use\n`, 'one line, no stack')
  const inFile = await run(['--socket', '/etc/hostname/w.sock', '--', 'cat'])
  t.equal(inFile.code, 1)
  t.equal(inFile.stderr, 'wsexec: cannot listen on /etc/hostname/w.sock: listen ENOTDIR: not a directory /etc/hostname/w.sock\n', 'any other error: its own message')
  stop.abort()
  t.equal((await first).code, 0)
})

t.test('the installed command: SIGTERM ends it with exit 0, nothing left behind', async (t) => {
  const child = spawn(process.execPath, [...process.execArgv, join(root, 'src/bin.ts'), '--port', '0', '--log-level', 'info', '--drain-timeout', '50ms', '--', process.execPath, fileURLToPath(new URL('../fixtures/env.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in ${out}`)), START_DEADLINE_MS)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[0-9.:]+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
    })
  })
  const c = connect(`${url.replace('http', 'ws')}/`)
  await c.received(1)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number]
  t.equal(code, 0)
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.match(out, /"msg":"stopped"/)
})

t.test('pretty logs in a terminal: one line per session start and end, in words', async (t) => {
  const stdout = Object.assign(new PassThrough(), { isTTY: true })
  const out: Buffer[] = []
  stdout.on('data', (d: Buffer) => out.push(d))
  const stop = new AbortController()
  let url = ''
  let listening!: () => void
  const listened = new Promise<void>((resolve) => { listening = resolve })
  const done = main(['--port', '0', '--', 'seq', '1', '5'], { stdout, stderr: stdout, env: { PATH: process.env['PATH'] }, cwd: root, stop: stop.signal, onListening: (u) => { url = u; listening() } })
  await listened
  const c = connect(`${url.replace('http', 'ws')}/count/5`)
  t.same(await c.received(5), ['1', '2', '3', '4', '5'])
  await c.closed
  stop.abort()
  t.equal(await done, 0)
  // eslint-disable-next-line no-control-regex
  const text = Buffer.concat(out).toString().replace(/\x1b\[[0-9;]*m/g, '')
  t.match(text, /INFO.*listening on http:\/\/127\.0\.0\.1:\d+/)
  t.match(text, /INFO.*\/count\/5 \(\/\) ← 127\.0\.0\.1, pid \d+\n/)
  t.match(text, /INFO.*\/count\/5 \(\/\) → 1000 exit 0, 0 msgs in, 5 msgs out, \d+ ms\n/)
  t.notMatch(text, /^\{/m, 'not JSON')
  t.notMatch(text, /^\s+(session|childPid|out):/m, 'no field lines')
})

t.test('terminal lines of other records and endings', async (t) => {
  const end = { msg: 'session end', path: '/a', route: '/a', in: { messages: 1 }, out: { messages: 1 }, durationMs: 3, closeCode: 4137, signal: 'SIGKILL', spawnError: null, exitCode: null }
  t.equal(terminalLine(end), '/a → 4137 signal SIGKILL, 1 msg in, 1 msg out, 3 ms')
  t.equal(terminalLine({ ...end, signal: null, spawnError: 'ENOENT', closeCode: 1011 }), '/a → 1011 spawn failed ENOENT, 1 msg in, 1 msg out, 3 ms')
  t.equal(terminalLine({ msg: 'program stderr', path: '/a', route: '/a', session: 'x', childPid: 7, stderr: 'oops' }), '/a program stderr  childPid=7 stderr=oops')
  t.equal(terminalLine({ msg: 'request refused', status: 404, err: { message: 'no' }, skipped: undefined }), 'request refused  status=404 err="no"')
  t.equal(terminalLine({ msg: 'x', err: 'plain' }), 'x  err="plain"')
  t.equal(terminalLine({ msg: 'stopped' }), 'stopped')
})

t.test('nothing to serve: a short message, not a configuration error at 1:1', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-empty-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const r = await run([], { cwd: dir })
  t.equal(r.code, 2)
  t.equal(r.stderr, `wsexec: nothing to serve: there is no config/routes.yaml in ${dir}.
  wsexec -c FILE             serve the routes in a YAML file
  wsexec -- COMMAND [ARGS]   serve one program (websocketd style: wsexec --port=8080 ./script.sh)
  wsexec --dir=FOLDER        serve every executable file in a folder
Try 'wsexec --help' for more information.
`)
  t.match((await run(['-c', 'config/routes.yaml'], { cwd: dir })).stderr, /Invalid configuration:\nconfig\/routes\.yaml:1:1: cannot read the file \(ENOENT\)/, 'a file asked for by name is a configuration error')
})

t.test('an unexpected error (a bug) exits 1 with its stack, never as a configuration error', async (t) => {
  const stdout = new PassThrough()
  stdout.write = () => { throw new TypeError('broken pipe of a test') }
  const stderr = new PassThrough()
  const err: Buffer[] = []
  stderr.on('data', (d: Buffer) => err.push(d))
  const code = await main(['--version'], { stdout, stderr, env: {}, cwd: root })
  t.equal(code, 1)
  const text = Buffer.concat(err).toString()
  t.match(text, /^wsexec: unexpected error \(a bug in wsexec; please report it\):\nTypeError: broken pipe of a test\n {4}at /)
  t.notMatch(text, /configuration/i)
})

t.test('at start-up, one line per route with its ws:// URL, and the console\'s', async (t) => {
  const file = await tempConfig(t, 'console: true\nroutes:\n  /echo:\n    command: [cat]\n  /count/:n:\n    command: [seq, "{n}"]\n    params: { n: "[0-9]+" }\n')
  const stdout = new PassThrough()
  const lines: string[] = []
  stdout.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')))
  const stop = new AbortController()
  let url = ''
  const code = await main(['-c', file, '--port', '0'], { stdout, stderr: stdout, env: { PATH: process.env['PATH'] }, cwd: root, stop: stop.signal, onListening: (u) => { url = u; stop.abort() } })
  t.equal(code, 0)
  const port = url.split(':').at(-1) as string
  const records = lines.map((l) => JSON.parse(l) as { msg: string, url?: string })
  t.same(records.filter((r) => r.url !== undefined).map((r) => r.msg), [
    `route ws://127.0.0.1:${port}/echo → cat`,
    `route ws://127.0.0.1:${port}/count/:n → seq {n}`,
    `console http://127.0.0.1:${port}/`
  ])
})

t.test('the routes\' URLs name the machine when listening on every address', async (t) => {
  const stdout = new PassThrough()
  const out: Buffer[] = []
  stdout.on('data', (d: Buffer) => out.push(d))
  const stop = new AbortController()
  const code = await main(['--host', '0.0.0.0', '--port', '0', '--', 'cat'], { stdout, stderr: stdout, env: { PATH: process.env['PATH'] }, cwd: root, stop: stop.signal, onListening: () => stop.abort() })
  t.equal(code, 0)
  t.match(Buffer.concat(out).toString(), `"msg":"route ws://${hostname()}:`)
  const warnings = Buffer.concat(out).toString().split('\n').filter((l) => l.includes('without allowedHosts'))
  t.equal(warnings.length, 1, 'one warning: every address and no allowedHosts')
  t.match(JSON.parse(warnings[0] as string), { level: 40, listen: '0.0.0.0', add: `allowedHosts: [${JSON.stringify(hostname().toLowerCase())}]` })
})
