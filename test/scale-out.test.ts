import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { needProgram } from './helpers/debian.js'
import { connect, DEADLINE_MS, until } from './helpers/client.js'
import { fixture } from './helpers/server.js'

// Two wsexec instances behind nginx (Debian's nginx, installed by .ci/run) configured with the
// shipped config/nginx.conf: sessions spread over both; SIGTERM drains one while the other
// takes the new sessions, and no client sees an abnormal close.

const root = fileURLToPath(new URL('..', import.meta.url))

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

interface Instance { child: ChildProcess, port: number, exited: Promise<number | null> }

async function startInstance (dir: string, name: string): Promise<Instance> {
  const config = join(dir, `${name}.yaml`)
  // b trusts nginx's X-Forwarded-For; a does not.
  await writeFile(config, `shutdown: { drainTimeout: 20s }
${name === 'b' ? 'trustProxy: [127.0.0.1]' : ''}
routes:
  /addr:
    command: [/usr/bin/printenv, INSTANCE, REMOTE_ADDR]
    env: { INSTANCE: ${name} }
  /who:
    command: [/usr/bin/printenv, INSTANCE]
    env: { INSTANCE: ${name} }
  /hold:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('hold.mjs'))}]
    env: { INSTANCE: ${name} }
`)
  const child = spawn(process.execPath, [...process.execArgv, join(root, 'src/bin.ts'), '-c', config, '--port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${name} did not start: ${out}`)), 30_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
  })
  child.stdout?.resume()
  return { child, port, exited }
}

async function accepting (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

t.test('two instances behind nginx: spread, drain one, nobody sees an abnormal close', async (t) => {
  if (!needProgram(t, 'nginx', `${process.env['PATH'] ?? ''}:/usr/sbin`)) return
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-nginx-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  const a = await startInstance(dir, 'a')
  t.teardown(() => { if (a.child.exitCode === null) a.child.kill('SIGKILL') })
  const b = await startInstance(dir, 'b')
  t.teardown(() => { if (b.child.exitCode === null) b.child.kill('SIGKILL') })

  const port = await freePort()
  const shipped = await readFile(join(root, 'config/nginx.conf'), 'utf8')
  const conf = shipped
    .replace('listen 8080;', `listen 127.0.0.1:${port};`)
    .replace('server 127.0.0.1:8081', `server 127.0.0.1:${a.port}`)
    .replace('server 127.0.0.1:8082', `server 127.0.0.1:${b.port}`)
    .replace('worker_processes auto;', 'worker_processes 1;')
  t.not(conf, shipped)
  await writeFile(join(dir, 'nginx.conf'), conf)
  const nginx = spawn('nginx', ['-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] })
  t.teardown(async () => { if (nginx.exitCode === null) { nginx.kill('SIGTERM'); await once(nginx, 'exit') } })
  await until(() => accepting(port), 'nginx to accept connections')
  const url = `ws://127.0.0.1:${port}`

  // Short sessions spread over both instances.
  const seen = new Set<string>()
  for (let i = 0; i < 10; i++) {
    const c = connect(`${url}/who`)
    t.same(await c.closed, { code: 1000, reason: 'exit 0' })
    seen.add(c.messages[0] as string)
  }
  t.same([...seen].sort(), ['a', 'b'], 'sessions reached both instances')

  // Long sessions: least_conn puts two on each.
  const held = Array.from({ length: 4 }, () => connect(`${url}/hold`))
  const where = await Promise.all(held.map(async (c) => (await c.received(1))[0] as string))
  t.same([...where].sort(), ['a', 'a', 'b', 'b'])

  // A client on another loopback address: b (trustProxy) sees it, a sees nginx.
  const addresses = new Map<string, string>()
  for (let i = 0; i < 6 && addresses.size < 2; i++) {
    const c = connect(`${url}/addr`, { localAddress: '127.0.0.2' })
    t.same(await c.closed, { code: 1000, reason: 'exit 0' })
    addresses.set(c.messages[0] as string, c.messages[1] as string)
  }
  t.equal(addresses.get('b'), '127.0.0.2', 'with trustProxy, REMOTE_ADDR is the real client')
  t.equal(addresses.get('a'), '127.0.0.1', 'without it, the proxy')

  // Drain a: its sessions keep working, new ones go to b.
  a.child.kill('SIGTERM')
  await until(async () => (await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 503, 'a to report not ready')
  for (let i = 0; i < 6; i++) {
    const c = connect(`${url}/who`)
    t.same(await c.closed, { code: 1000, reason: 'exit 0' }, 'a new session while a drains')
    t.same(c.messages, ['b'], 'went to b')
  }
  for (const [i, c] of held.entries()) {
    c.ws.send(`still ${where[i] as string}`)
    t.same((await c.received(2))[1], `still ${where[i] as string}`, `held session on ${where[i] as string} still served`)
    c.ws.send('bye')
    t.same(await c.closed, { code: 1000, reason: 'exit 0' }, 'finished normally')
  }
  await until(() => a.child.exitCode !== null, 'a to exit once its sessions are done', DEADLINE_MS)
  t.equal(await a.exited, 0, 'a exited 0 once its sessions were done')
  b.child.kill('SIGTERM')
  t.equal(await b.exited, 0)
})
