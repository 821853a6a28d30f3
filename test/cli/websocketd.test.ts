import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { parseArgs } from '../../src/cli/args.js'
import { runCli, type Run } from '../helpers/cli.js'
import { connect, DEADLINE_MS, refusedUpgrade } from '../helpers/client.js'
import { needProgram } from '../helpers/debian.js'

const SCRIPT = '#!/bin/sh\necho "SCRIPT_NAME=$SCRIPT_NAME PATH_INFO=$PATH_INFO"\nread line\necho "got $line"\n'

async function scripts (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-wsd-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'sub'))
  for (const name of ['hello.sh', 'sub/deep.sh']) {
    await writeFile(join(dir, name), SCRIPT)
    await chmod(join(dir, name), 0o755)
  }
  await writeFile(join(dir, 'notes.txt'), 'not a program\n')
  await writeFile(join(dir, ':param.sh'), SCRIPT)
  await chmod(join(dir, ':param.sh'), 0o755)
  await symlink(join(dir, 'gone'), join(dir, 'dangling'))
  await writeFile(join(dir, '.hidden.sh'), SCRIPT)
  await chmod(join(dir, '.hidden.sh'), 0o755)
  return dir
}

/** Runs the server in this process until the test ends; resolves to its base URL once listening. */
async function serve (t: Test, argv: string[], cwd: string): Promise<{ url: string, done: Promise<Run> }> {
  const stop = new AbortController()
  let resolveUrl!: (url: string) => void
  const listening = new Promise<string>((resolve) => { resolveUrl = resolve })
  const done = runCli([...argv, '--log-level=warn'], { cwd, stop: stop.signal, onListening: resolveUrl })
  t.teardown(async () => { stop.abort(); await done })
  const url = await Promise.race([listening, done.then((r) => { throw new Error(`exited ${r.code}: ${r.stderr}`) })])
  return { url: url.replace('http', 'ws'), done }
}

/** One session: sends `line`, returns every message and the close code. */
async function transcript (url: string, line = 'hi', options: WebSocket.ClientOptions = {}): Promise<{ messages: string[], code: number }> {
  const c = connect(url, options)
  await c.opened
  c.ws.send(line)
  const { code } = await c.closed
  return { messages: c.messages.map(String), code }
}

t.test('both flag forms, one or two dashes, and a positional command', async (t) => {
  const forms = [
    ['--port=9000', '--address=127.0.0.2', 'cat', '-u'],
    ['--port', '9000', '--address', '127.0.0.2', 'cat', '-u'],
    ['-port=9000', '-address', '127.0.0.2', '--', 'cat', '-u']
  ]
  for (const argv of forms) {
    const o = parseArgs(argv)
    t.same([o.port, o.hosts, o.command], [9000, ['127.0.0.2'], ['cat', '-u']], argv.join(' '))
  }
  const o = parseArgs(['--binary', '--sameorigin=true', '--ssl=false', '--maxforks=3', '--closems', '250', '--passenv', 'PATH,HOME', '--header=X-A: 1', '--header-ws', 'X-B: 2', '--header-http=X-C: 3', '--loglevel=access', 'cat'])
  t.match(o.websocketd, { binary: true, sameorigin: true, maxforks: 3, closems: 250, passenv: ['PATH', 'HOME'], headers: { any: ['X-A: 1'], ws: ['X-B: 2'], http: ['X-C: 3'] } })
  t.equal(o.logLevel, 'info', 'websocketd\'s access level is info')
  t.equal(parseArgs(['--loglevel=debug', 'cat']).logLevel, 'debug')
  t.same(parseArgs(['cat', '--port=1']).command, ['cat', '--port=1'], 'options end at the command, as in websocketd')
  t.same(parseArgs(['-', 'x']).command, ['-', 'x'], 'a lone dash is a word')
  t.match(parseArgs(['--binary=1', '--sameorigin=0', 'cat']).websocketd, { binary: true, sameorigin: false })
  t.throws(() => parseArgs(['-x']), { message: "Unknown option '-x'" })
  t.throws(() => parseArgs(['--nope=1']), { message: "Unknown option '--nope'" })
  t.throws(() => parseArgs(['--prot=1']), { message: "Unknown option '--prot': did you mean --port?" })
  t.throws(() => parseArgs(['--chek']), { message: "Unknown option '--chek': did you mean --check?" })
})

t.test('websocketd flags that cannot work are refused clearly', async (t) => {
  for (const [argv, reason] of [
    [['--cgidir=./cgi', 'cat'], /--cgidir is not supported: wsexec serves WebSocket endpoints only/],
    [['--redirport=80', 'cat'], /--redirport is not supported/],
    [['--ssl', 'cat'], /--ssl needs --sslcert FILE and --sslkey FILE/],
    [['--sslcert=c.pem', 'cat'], /--sslcert, --sslkey and --sslca need --ssl/],
    [['--loglevel=loud', 'cat'], /--loglevel must be one of debug, trace, access, info, error, fatal/],
    [['--binary'], /--binary shapes the routes built from the command line/],
    [['--print-config'], /--print-config needs a COMMAND or --dir/],
    [['--maxforks=lots', 'cat'], /--maxforks must be a number/],
    [['--header=nocolon', 'cat'], /--header must look like 'Name: value'/],
    [['--binary=maybe', 'cat'], /--binary is true or false, not "maybe"/],
    [['--dir=/nonexistent/folder'], /--dir: cannot read \/nonexistent\/folder \(ENOENT\)/]
  ] as const) {
    const r = await runCli([...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, reason)
  }
  const empty = await mkdtemp(join(tmpdir(), 'wsexec-wsd-empty-'))
  t.teardown(() => rm(empty, { recursive: true, force: true }))
  t.match((await runCli([`--dir=${empty}`])).stderr, /no executable files in/)
  t.throws(() => parseArgs(['--bogus']), { name: 'FastifyError', code: 'WSEXEC_ERR_USAGE', message: 'Unknown option \'--bogus\'' }, 'a usage error carries its code')
  const license = await runCli(['--license'])
  t.equal(license.code, 0)
  t.match(license.stdout, /MIT License/)
})

t.test('--dir serves every executable file at its path; deeper segments go to PATH_INFO', async (t) => {
  const dir = await scripts(t)
  const { url } = await serve(t, ['--port=0', '--dir', '.', '--reverselookup'], dir)
  t.same(await transcript(`${url}/hello.sh`), { messages: ['SCRIPT_NAME=/hello.sh PATH_INFO=', 'got hi'], code: 1000 })
  t.same(await transcript(`${url}/hello.sh/a/b`), { messages: ['SCRIPT_NAME=/hello.sh PATH_INFO=/a/b', 'got hi'], code: 1000 })
  t.same(await transcript(`${url}/sub/deep.sh/x`), { messages: ['SCRIPT_NAME=/sub/deep.sh PATH_INFO=/x', 'got hi'], code: 1000 })
  t.equal((await refusedUpgrade(`${url}/notes.txt`)).status, 404, 'a file that is not executable is no route')
  t.equal((await refusedUpgrade(`${url}/hello.shx`)).status, 404)
})

t.test('a positional command serves every path, as websocketd does', async (t) => {
  const dir = await scripts(t)
  const { url } = await serve(t, ['--port', '0', './hello.sh'], dir)
  t.same(await transcript(`${url}/`), { messages: ['SCRIPT_NAME=/ PATH_INFO=/', 'got hi'], code: 1000 })
  t.same(await transcript(`${url}/any/path`), { messages: ['SCRIPT_NAME=/ PATH_INFO=/any/path', 'got hi'], code: 1000 })
})

t.test('transcripts match websocketd\'s on the same folder, apart from the close code', async (t) => {
  if (!needProgram(t, 'websocketd')) return
  const dir = await scripts(t)
  const { url } = await serve(t, ['--port=0', `--dir=${dir}`], dir)
  // websocketd prints the port it was given, so it gets a free one rather than 0.
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  const child = spawn('websocketd', [`--port=${port}`, '--address=127.0.0.1', `--dir=${dir}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let log = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`websocketd did not start: ${log}`)), DEADLINE_MS)
    const onData = (d: Buffer): void => {
      log += d.toString()
      if (/Starting WebSocket server/.test(log)) { clearTimeout(timer); resolve() }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
  })
  const wsdUrl = `ws://127.0.0.1:${port}`
  for (const path of ['/hello.sh', '/hello.sh/a/b', '/sub/deep.sh/x']) {
    const ours = await transcript(`${url}${path}`)
    const theirs = await transcript(`${wsdUrl}${path}`)
    t.same(ours.messages, theirs.messages, path)
    t.equal(ours.code, 1000, 'wsexec: exit 0 is 1000')
    t.equal(theirs.code, 1006, 'websocketd: every ending is 1006 (a documented difference)')
  }
})

t.test('--print-config prints the equivalent routes file, which serves the same', async (t) => {
  const dir = await scripts(t)
  const r = await runCli(['--dir=.', '--port=9000', '--binary', '--maxforks=4', '--closems=300', '--passenv=PATH,HOME', '--origin=example.com:8443', '--header=X-Served-By: wsexec', '--print-config'], { cwd: dir })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `# wsexec routes file made by: wsexec --dir=. --port=9000 --binary --maxforks=4 --closems=300 --passenv=PATH,HOME --origin=example.com:8443 --header=X-Served-By: wsexec --print-config
routes:
  /hello.sh:
    command:
      - ${dir}/hello.sh
    pathInfo: true
    mode: binary
    passEnv:
      - PATH
      - HOME
    closeGrace: 300ms
  /sub/deep.sh:
    command:
      - ${dir}/sub/deep.sh
    pathInfo: true
    mode: binary
    passEnv:
      - PATH
      - HOME
    closeGrace: 300ms
listen:
  port: 9000
maxSessions: 4
origins:
  - http://example.com:8443
  - https://example.com:8443
requireOrigin: true
headers:
  any:
    X-Served-By: wsexec
`)
  await writeFile(join(dir, 'routes.yaml'), r.stdout)
  const check = await runCli(['--check', '-c', 'routes.yaml'], { cwd: dir })
  t.equal(check.code, 0, check.stderr)
  t.match(check.stdout, /routes\.yaml: valid, 2 routes, listen 127\.0\.0\.1:9000/)
  const tls = await runCli(['--ssl', '--sslcert=c.pem', '--sslkey', 'k.pem', '--sameorigin', '--maxforks=0', '--print-config', 'cat'], { cwd: dir })
  t.equal(tls.stdout, `# wsexec routes file made by: wsexec --ssl --sslcert=c.pem --sslkey k.pem --sameorigin --maxforks=0 --print-config cat
routes:
  /:
    command:
      - cat
    pathInfo: true
maxSessions: 0
requireOrigin: true
tls:
  cert: ${dir}/c.pem
  key: ${dir}/k.pem
`, '--maxforks=0 is no limit')
  t.match(r.stderr, /:param\.sh is left out \(a name starting with ":" cannot be a route path\)/)
  const several = await runCli(['--address=127.0.0.1', '--address=127.0.0.2', '--closems=0', '--print-config', 'cat'], { cwd: dir })
  t.match(several.stdout, /# --address 127\.0\.0\.2: a routes file listens on one address/)
  t.match(several.stderr, /--closems=0: wsexec always ends the program/)
})

t.test('websocketd options at work: --address twice, --header*, --origin, --maxforks, --binary, --staticdir, --devconsole', async (t) => {
  const dir = await scripts(t)
  await mkdir(join(dir, 'www'))
  await writeFile(join(dir, 'www', 'index.txt'), 'static\n')
  const { url } = await serve(t, ['--port=0', '--address=127.0.0.1', '--address=127.0.0.2', '--header=X-Any: 1', '--header-ws=X-Ws: 2', '--header-http=X-Http: 3', '--origin=app.example:8443', '--maxforks=1', '--binary', '--staticdir=www', '--devconsole', './hello.sh'], dir)
  const port = new URL(url).port
  const origin = { origin: 'https://app.example:8443' }
  const c = connect(`${url}/x`, { headers: origin })
  const [response] = await once(c.ws, 'upgrade', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [{ headers: Record<string, string> }]
  t.match(response.headers, { 'x-any': '1', 'x-ws': '2' })
  t.notOk('x-http' in response.headers)
  const [first] = await once(c.ws, 'message', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [Buffer, boolean]
  t.equal(first.toString(), 'SCRIPT_NAME=/ PATH_INFO=/x\n', '--binary: raw chunks')
  const full = await refusedUpgrade(`${url}/y`, { headers: origin })
  t.equal(full.status, 503, '--maxforks=1: the second session is refused')
  t.match(full.headers, { 'x-any': '1', 'x-http': '3' })
  c.ws.send('bye\n')
  await c.closed
  t.equal((await refusedUpgrade(`${url}/x`, { headers: { origin: 'https://evil.example' } })).status, 403, '--origin')
  t.equal((await refusedUpgrade(`${url}/x`)).status, 403, 'no Origin is refused once --origin is on')
  const second = await transcript(`ws://127.0.0.2:${port}/z`, 'two\n', { headers: origin })
  t.same(second.code, 1000, 'the second --address serves too')
  const page = await fetch(`http://127.0.0.1:${port}/index.txt`)
  t.equal(await page.text(), 'static\n', '--staticdir')
  t.equal(page.headers.get('x-http'), '3')
  t.match(await (await fetch(`http://127.0.0.1:${port}/`)).text(), /<html/i, '--devconsole')
})

t.test('websocketd\'s 2026 flags: --passstderr, --maxframesize, --pingms, --sslca, --unixsocket', async (t) => {
  const dir = await scripts(t)
  const printed = await runCli(['--ssl', '--sslcert=c.pem', '--sslkey=k.pem', '--sslca=ca.pem', '--passstderr', '--maxframesize=4096', '--pingms=250', '--unixsocket=wsexec.sock', '--print-config', 'cat'], { cwd: dir })
  t.equal(printed.code, 0, printed.stderr)
  t.match(printed.stdout, `  /:
    command:
      - cat
    pathInfo: true
    stderr: tagged
    maxMessageBytes: 4096
`, '--passstderr is stderr: tagged, --maxframesize is maxMessageBytes')
  t.match(printed.stdout, `tls:
  cert: ${dir}/c.pem
  key: ${dir}/k.pem
  ca: ${dir}/ca.pem
pingInterval: 250ms
`, '--sslca is tls.ca, --pingms is pingInterval')
  t.same(parseArgs(['--unixsocket=w.sock', 'cat']).socket, join(process.cwd(), 'w.sock'), '--unixsocket is --socket')
  t.same(parseArgs(['--pingms=0', 'cat']).websocketd.pingms, 0, '--pingms=0: never')
  for (const [argv, reason] of [
    [['--sslca=ca.pem', 'cat'], /--sslcert, --sslkey and --sslca need --ssl/],
    [['--maxframesize=0', 'cat'], /--maxframesize must be at least 1/],
    [['--pingms=soon', 'cat'], /--pingms must be a number/],
    [['--passstderr'], /--passstderr shapes the routes built from the command line/]
  ] as const) {
    const r = await runCli([...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, reason)
  }

  await writeFile(join(dir, 'warn.sh'), '#!/bin/sh\necho out; echo oops >&2; read line; echo "got $line"\n')
  await chmod(join(dir, 'warn.sh'), 0o755)
  const { url } = await serve(t, ['--port=0', '--passstderr', '--maxframesize=16', './warn.sh'], dir)
  const c = connect(`${url}/`)
  const first = await c.received(2)
  t.same(first.map((m) => JSON.parse(m as string)).sort((a, b) => a.data.localeCompare(b.data)),
    [{ stream: 'stderr', data: 'oops' }, { stream: 'stdout', data: 'out' }], 'stderr as tagged JSON')
  c.ws.send('x'.repeat(17))
  t.match(await c.closed, { code: 1009 }, 'a message over --maxframesize closes with 1009')
})

t.test('the Quick start\'s one-program line serves the script the repository ships', async (t) => {
  const { url } = await serve(t, ['--port=0', './config/hello.sh'], join(import.meta.dirname, '..', '..'))
  const c = connect(`${url}/any/path`)
  t.same(await c.received(1), ['name?'])
  c.ws.send('ada')
  c.ws.send('hi')
  t.same(await c.received(3), ['name?', 'hello, ada', 'you said: hi'])
  c.ws.send(Buffer.alloc(0), { binary: true })
  t.same(await c.closed, { code: 1000, reason: 'exit 0' }, 'it ends with its input')
})
