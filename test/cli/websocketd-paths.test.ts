import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { cleanPath, decodedPath, redirectFor } from '../../src/server/path-info.js'
import { runCli, type Run } from '../helpers/cli.js'
import { DEADLINE_MS } from '../helpers/client.js'
import { needProgram } from '../helpers/debian.js'
import { rawConnect, statusOf, upgradeRequest } from '../helpers/raw.js'

const SCRIPT = '#!/bin/sh\necho "PATH_INFO=$PATH_INFO"\n'

async function folder (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-paths-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'env.sh'), SCRIPT)
  await chmod(join(dir, 'env.sh'), 0o755)
  return dir
}

async function serve (t: Test, argv: string[], cwd: string): Promise<{ port: number, done: Promise<Run> }> {
  const stop = new AbortController()
  let resolveUrl!: (url: string) => void
  const listening = new Promise<string>((resolve) => { resolveUrl = resolve })
  const done = runCli([...argv, '--log-level=warn'], { cwd, stop: stop.signal, onListening: resolveUrl })
  t.teardown(async () => { stop.abort(); await done })
  const url = await Promise.race([listening, done.then((r) => { throw new Error(`exited ${r.code}: ${r.stderr}`) })])
  return { port: Number(new URL(url).port), done }
}

/** The payload of the first (short, unmasked) frame after the response head, once it has all arrived. */
function firstFrame (received: Buffer): string | undefined {
  const start = received.indexOf('\r\n\r\n') + 4
  const length = (received[start + 1] ?? 0) & 0x7f
  return received.length >= start + 2 + length && received.length > start + 1 ? received.subarray(start + 2, start + 2 + length).toString() : undefined
}

/** An upgrade to `path`: the status, the Location of a redirect and the first message of a session. */
async function ask (port: number, path: string): Promise<{ status: number, location: string | undefined, first: string | undefined }> {
  const c = await rawConnect(port)
  c.socket.write(upgradeRequest(path))
  const signal = AbortSignal.timeout(DEADLINE_MS)
  // The head, and for a session its first text frame (the script's one line).
  while (!c.received().includes('\r\n\r\n') || (statusOf(c.received()) === 101 && firstFrame(c.received()) === undefined)) {
    await once(c.socket, 'data', { signal })
  }
  const text = c.received().toString('latin1')
  c.socket.destroy()
  const status = statusOf(c.received())
  return { status, location: /\r\nlocation: ([^\r]*)/i.exec(text)?.[1], first: status === 101 ? firstFrame(c.received()) : undefined }
}

const PATHS = ['/env.sh/a%2fb', '/env.sh/a%20b', '/env.sh/a%2e%2e/b', '/env.sh/../../etc/passwd', '/env.sh/a/./b', '/env.sh/%2e%2e/x', '/env.sh/a//b', '/env.sh/a%2f..%2fb?q=1', '/env.sh/a/..']

t.test('paths are cleaned as websocketd (Go) cleans them; the query is kept', async (t) => {
  t.equal(cleanPath('/a/../../b/./c//d/'), '/b/c/d/')
  t.equal(cleanPath('/a/..'), '/')
  t.equal(cleanPath('/'), '/')
  t.equal(redirectFor('/env.sh/../../etc/passwd'), '/etc/passwd')
  t.equal(redirectFor('/env.sh/a%2f..%2fb%3f/..?x=%2f'), '/env.sh?x=%2f')
  t.equal(redirectFor('/x/a%3f%23b/../c%25'), '/x/c%25')
  t.equal(redirectFor('/x/a%3f%23b/./'), '/x/a%3F%23b/')
  t.equal(redirectFor('/env.sh/a%2fb'), undefined, 'clean: no redirect')
  t.equal(redirectFor('/env.sh/%ff/..'), undefined, 'a path that does not decode is not redirected (fastify answers it 400)')
  t.equal(decodedPath('/a%2fb'), '/a/b')
})

t.test('--dir: PATH_INFO is decoded, paths with . or .. segments are redirected (301), as websocketd does', async (t) => {
  const dir = await folder(t)
  const { port } = await serve(t, ['--port=0', '--dir', '.'], dir)
  t.same(await ask(port, '/env.sh/a%2fb'), { status: 101, location: undefined, first: 'PATH_INFO=/a/b' })
  t.same(await ask(port, '/env.sh/../../etc/passwd'), { status: 301, location: '/etc/passwd', first: undefined })
  t.same(await ask(port, '/env.sh/a%2f..%2fb?q=1'), { status: 301, location: '/env.sh/b?q=1', first: undefined })
  t.same(await ask(port, '/env.sh/b?q=1'), { status: 101, location: undefined, first: 'PATH_INFO=/b' })

  if (!needProgram(t, 'websocketd')) return
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const wsdPort = (probe.address() as AddressInfo).port
  probe.close()
  const child = spawn('websocketd', [`--port=${wsdPort}`, '--address=127.0.0.1', `--dir=${dir}`], { stdio: ['ignore', 'pipe', 'pipe'] })
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
  for (const path of PATHS) t.same(await ask(port, path), await ask(wsdPort, path), `${path}: as websocketd answers it`)
})

t.test('--dir: a symlink loop is left out with a warning; so is a symlink out of the folder', async (t) => {
  const dir = await folder(t)
  await mkdir(join(dir, 'sub'))
  await symlink('.', join(dir, 'loop'))
  await symlink('..', join(dir, 'sub', 'up'))
  await symlink(join(dir, 'b'), join(dir, 'a'))
  await symlink(join(dir, 'a'), join(dir, 'b'))
  await symlink(process.execPath, join(dir, 'node'))
  await symlink(join(dir, 'env.sh'), join(dir, 'sub', 'inside.sh'))
  const run = await runCli(['--dir', dir, '--print-config'], { cwd: dir })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stderr, `--dir: ${join(dir, 'loop')} is left out (a symlink loop: it leads back to ${dir})`)
  t.match(run.stderr, `--dir: ${join(dir, 'sub', 'up')} is left out (a symlink loop: it leads back to ${dir})`)
  t.match(run.stderr, `--dir: ${join(dir, 'a')} is left out (a symlink loop)`)
  t.match(run.stderr, `--dir: ${join(dir, 'node')} is left out (a symlink to ${process.execPath}, outside ${dir})`)
  t.notMatch(run.stderr, /unexpected error/)
  t.match(run.stdout, /\/env\.sh:/)
  t.match(run.stdout, /\/sub\/inside\.sh:/, 'a symlink to a file inside the folder is served')
  t.notMatch(run.stdout, /\/node:/)
})

t.test('--dir: a file is no folder to read', async (t) => {
  const dir = await folder(t)
  const run = await runCli(['--dir', join(dir, 'env.sh'), '--print-config'], { cwd: dir })
  t.equal(run.code, 2)
  t.match(run.stderr, `--dir: cannot read ${join(dir, 'env.sh')} (ENOTDIR)`)
})
