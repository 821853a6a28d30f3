import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { loadConfigText } from '../../src/config/pipeline.js'
import { buildServer } from '../../src/server/build.js'
import { hostPattern } from '../../src/config/hosts.js'
import { hostAllowed, hostsFor, isLoopback, LOOPBACK_HOSTS, wildcardWarning } from '../../src/security/hosts.js'
import { connect, refusedUpgrade } from '../helpers/client.js'
import { rawConnect, statusOf } from '../helpers/raw.js'
import { fixture, endedSessions, startServer } from '../helpers/server.js'

/** A plain GET over TCP (`port`) or a Unix socket (`socketPath`) with the given Host header. */
async function get (where: { port?: number, socketPath?: string }, path: string, host: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', ...where, path, headers: { host } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode as number, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')))
    req.end()
  })
}

t.test('host patterns: names, *.suffix, * and addresses; ports ignored', async (t) => {
  t.equal(hostPattern('Example.COM'), 'example.com')
  t.equal(hostPattern('::1'), '[::1]')
  t.equal(hostPattern('[::1]'), '[::1]')
  t.equal(hostPattern('*'), '*')
  t.equal(hostPattern('localhost:80'), undefined)
  t.equal(hostPattern('[x]'), undefined)
  t.ok(hostAllowed(LOOPBACK_HOSTS, 'localhost:8080'))
  t.ok(hostAllowed(LOOPBACK_HOSTS, 'LOCALHOST.'), 'case and a trailing dot do not matter')
  t.ok(hostAllowed(LOOPBACK_HOSTS, 'app.localhost'))
  t.ok(hostAllowed(LOOPBACK_HOSTS, '127.0.0.1:1'))
  t.ok(hostAllowed(LOOPBACK_HOSTS, '[::1]:8080'))
  t.notOk(hostAllowed(LOOPBACK_HOSTS, '.localhost'), '*.suffix needs a name before the suffix')
  t.notOk(hostAllowed(LOOPBACK_HOSTS, 'evillocalhost'))
  t.notOk(hostAllowed(LOOPBACK_HOSTS, 'localhost.evil.com'))
  t.notOk(hostAllowed(LOOPBACK_HOSTS, '127.0.0.2'))
  t.notOk(hostAllowed(LOOPBACK_HOSTS, undefined), 'no Host, no match')
  t.ok(hostAllowed(['*'], undefined))
  t.ok(isLoopback('127.8.9.10') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'))
  t.notOk(isLoopback('10.0.0.1') || isLoopback('::ffff:10.0.0.1') || isLoopback('::'))
  t.same(hostsFor(['a.com'], '127.0.0.1'), ['a.com'], 'allowedHosts wins')
  t.same(hostsFor(null, undefined), LOOPBACK_HOSTS, 'a Unix socket')
  t.same(hostsFor(null, '127.0.0.1'), LOOPBACK_HOSTS, 'a loopback address')
  t.same(hostsFor(null, '::ffff:127.0.0.2'), [...LOOPBACK_HOSTS, '127.0.0.2'], 'another loopback address: itself too')
  t.ok(hostAllowed(hostsFor(null, '127.0.0.2'), '127.0.0.2:8080'))
  t.notOk(hostAllowed(hostsFor(null, '127.0.0.2'), 'evil.example:8080'))
  t.same(hostsFor(null, '::ffff:127.0.0.1'), LOOPBACK_HOSTS, 'a loopback connection to a server on every address: still the loopback rule')
  t.same(hostsFor(null, '10.1.2.3'), ['*'], 'a network address: any host')
})

t.test('on loopback, DNS rebinding is refused with 403 before anything else, on every endpoint', async (t) => {
  const s = await startServer(t, `console: true\nstatic: { dir: ${JSON.stringify(fixture('www'))}, prefix: /app }\nroutes:\n  /echo:\n    command: [cat]\n`)
  // The attacker's page: its own name in both Origin and Host, resolved to 127.0.0.1.
  const evil = `rebind.attacker.example:${s.port}`
  const refused = await refusedUpgrade(`${s.url}/echo`, { headers: { Host: evil, Origin: `http://${evil}` } })
  t.equal(refused.status, 403)
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_HOST_NOT_ALLOWED', message: `Host ${evil} is not allowed: add it to allowedHosts` })
  for (const path of ['/', '/app/index.html', '/asyncapi.json', '/_wsexec/client.js', '/metrics', '/healthz', '/readyz', '/nope', '/echo']) {
    t.equal((await get({ port: s.port }, path, evil)).status, 403, path)
  }
  for (const host of ['localhost', `localhost:${s.port}`, 'app.localhost', '127.0.0.1', `[::1]:${s.port}`]) {
    t.equal((await get({ port: s.port }, '/app/index.html', host)).status, 200, host)
  }
  const c = connect(`${s.url}/echo`, { headers: { Host: `localhost:${s.port}`, Origin: `http://localhost:${s.port}` } })
  await c.opened
  c.ws.close()
  await c.closed
  t.equal(await endedSessions(s, 1), 1, 'only the allowed host got a session')
  // HTTP/1.0 needs no Host: without one there is no allowed name either.
  const old = await rawConnect(s.port)
  old.socket.write('GET /healthz HTTP/1.0\r\n\r\n')
  await old.closed
  t.equal(statusOf(old.received()), 403, 'no Host on loopback')
  t.match(await s.app.wsexec.metrics.registry.getSingleMetricAsString('wsexec_requests_refused_total'), /reason="host_not_allowed"} 11/)
})

t.test('allowedHosts replaces the default; a reload applies it', async (t) => {
  const s = await startServer(t, 'allowedHosts: [ws.example.com, "*.apps.example.com"]\nroutes:\n  /echo:\n    command: [cat]\n')
  t.equal((await get({ port: s.port }, '/healthz', 'ws.example.com:443')).status, 200)
  t.equal((await get({ port: s.port }, '/healthz', 'a.apps.example.com')).status, 200)
  t.equal((await get({ port: s.port }, '/healthz', 'localhost')).status, 403, 'the default is replaced')
  s.app.wsexec.reload(await loadConfigText('allowedHosts: ["*"]\nroutes:\n  /echo:\n    command: [cat]\n', {}, { source: 'next.yaml', baseDir: '/' }))
  t.equal((await get({ port: s.port }, '/healthz', 'anything.example')).status, 200)
  // With any host allowed, a route still needs a Host (HTTP/1.0 may leave it out).
  const bare = await rawConnect(s.port)
  bare.socket.write('GET /echo HTTP/1.0\r\n\r\n')
  await bare.closed
  t.equal(statusOf(bare.received()), 400, 'no Host on a route')
})

t.test('listening on every address, a connection to a loopback address keeps the loopback rule; on a Unix socket only local names', async (t) => {
  const logger = pino({ level: 'silent' })
  const open = await buildServer(await loadConfigText('listen: { host: 0.0.0.0 }\nroutes:\n  /echo:\n    command: [cat]\n', {}, { source: 'c.yaml', baseDir: '/' }), { logger })
  t.teardown(() => open.close())
  await open.listen({ host: '0.0.0.0', port: 0 })
  const port = (open.server.address() as { port: number }).port
  t.equal((await get({ port }, '/healthz', 'rebind.attacker.example')).status, 403, 'a rebound name on 127.0.0.1, whatever the listener')
  t.equal((await get({ port }, '/healthz', `localhost:${port}`)).status, 200)
  t.equal(wildcardWarning('0.0.0.0', null, 'Box')?.add, 'allowedHosts: ["box"]')
  t.match(wildcardWarning('::', null, 'box')?.msg, /listening on :: without allowedHosts: .*DNS rebinding.*allowedHosts: \["box"\]/)
  t.equal(wildcardWarning('[::]', ['a.example'], 'box'), undefined, 'allowedHosts set: no warning')
  t.equal(wildcardWarning('127.0.0.1', null, 'box'), undefined, 'not every address: no warning')

  const dir = await mkdtemp(join(tmpdir(), 'wsexec-hosts-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const socketPath = join(dir, 's.sock')
  const local = await buildServer(await loadConfigText(`listen: { socket: ${JSON.stringify(socketPath)} }\nroutes:\n  /echo:\n    command: [cat]\n`, {}, { source: 'c.yaml', baseDir: '/' }), { logger })
  t.teardown(() => local.close())
  await local.listen({ path: socketPath })
  t.equal((await get({ socketPath }, '/healthz', 'rebind.attacker.example')).status, 403)
  t.equal((await get({ socketPath }, '/healthz', 'localhost')).status, 200)
})

t.test('the metrics port judges the Host by its own address', async (t) => {
  const logger = pino({ level: 'silent' })
  const app = await buildServer(await loadConfigText('metrics: { port: 0, host: 127.0.0.1 }\nroutes:\n  /echo:\n    command: [cat]\n', {}, { source: 'c.yaml', baseDir: '/' }), { logger })
  const metrics = app.wsexec.metricsServer
  t.teardown(() => metrics?.close())
  await metrics?.listen({ host: '127.0.0.1', port: 0 })
  const port = (metrics?.server.address() as { port: number }).port
  t.equal((await get({ port }, '/metrics', 'rebind.attacker.example')).status, 403)
  t.equal((await get({ port }, '/metrics', 'localhost')).status, 200)
})
