import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { rawConnect, statusOf, upgradeRequest } from '../helpers/raw.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { exitCode, logged, serve } from '../helpers/served.js'
import { UpgradeSockets } from '../../src/server/upgrade-sockets.js'

const ROUTES = 'maxSessions: 2\nmaxConnections: 4\nroutes:\n  /echo:\n    command: [cat]\n  /x/:v:\n    command: [echo, "{v}"]\n    params: { v: "[a-z]+" }\n'

/** The server's open TCP connections (upgraded ones included), as Node counts them. */
async function connections (s: TestServer): Promise<number> {
  return await new Promise((resolve, reject) => s.app.server.getConnections((err, n) => err === null ? resolve(n) : reject(err)))
}

/** Sends `head` on a new raw connection and waits until the server closes it; its response. */
async function answered (port: number, head: string): Promise<Buffer> {
  const c = await rawConnect(port)
  c.socket.write(head)
  await c.closed
  return c.received()
}

t.test('a path whose % escape does not decode: 400, and the server closes the socket (upgrade or not)', async (t) => {
  const s = await startServer(t, ROUTES)
  for (const path of ['/%ff', '/echo%', '/x/%zz']) {
    const upgrade = await answered(s.port, upgradeRequest(path))
    t.equal(statusOf(upgrade), 400, `upgrade to ${path}`)
    t.match(upgrade.toString('latin1'), /WSEXEC_ERR_BAD_URL/)
    const plain = await answered(s.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    t.equal(statusOf(plain), 400, `plain GET of ${path}`)
    t.match(plain.toString('latin1'), /connection: close/i)
  }
  await until(async () => await connections(s) === 0, 'no connection left')
  t.equal(await connections(s), 0, 'no socket left open on the server')
  t.match(s.logs.filter((r) => r.msg === 'request refused'), [{ status: 400, code: 'FST_ERR_BAD_URL', path: '/%ff', upgrade: true }])
  t.match(await s.app.wsexec.metrics.registry.metrics(), /wsexec_requests_refused_total\{reason="bad_url"\} 6/)
})

t.test('with maxConnections 4, 12 bad requests in a row leave /healthz and sessions working', async (t) => {
  const s = await startServer(t, ROUTES)
  for (let i = 0; i < 12; i++) t.equal(statusOf(await answered(s.port, upgradeRequest('/%ff'))), 400)
  t.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status, 200)
  const c = connect(`${s.url}/echo`)
  await c.opened
  c.ws.send('still here')
  t.same(await c.received(1), ['still here'])
  c.ws.close()
  await c.closed
})

t.test('close ends after bad upgrades, with sockets still held by their clients', async (t) => {
  const s = await startServer(t, ROUTES)
  const held = await Promise.all([1, 2, 3].map(async () => await rawConnect(s.port)))
  for (const c of held) c.socket.write(upgradeRequest('/x/%zz'))
  await Promise.all(held.map(async (c) => await c.closed))
  await s.app.close()
  t.pass('closed')
})

t.test('UpgradeSockets: a close destroys upgrade sockets nobody answered', async (t) => {
  const server = createServer()
  const sockets = new UpgradeSockets(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const c = await rawConnect((server.address() as { port: number }).port)
  c.socket.write(upgradeRequest('/'))
  await until(() => sockets.size === 1, 'the upgrade to arrive')
  sockets.destroyAll()
  await c.closed
  t.equal(c.received().length, 0, 'nothing was answered; the socket was closed')
  await until(() => sockets.size === 0, 'the socket to be forgotten')
})

/**
 * The server's TCP sockets on `port` that hold a descriptor (what `ss` shows as ESTAB or
 * CLOSE-WAIT; not the listener, not TIME-WAIT, which has no owner), from /proc/net/tcp and tcp6.
 */
function serverSockets (port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => readFileSync(file, 'utf8').split('\n').slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hex}`) === true && f[3] !== '0A' && f[3] !== '06' && f[9] !== '0')
    .map((f) => `state ${String(f[3])}`))
}

t.test('wsexec: bad upgrades leave no socket behind, and SIGTERM after them exits 0', async (t) => {
  const s = await serve(t, ROUTES, { drainTimeout: '1s' })
  for (let i = 0; i < 6; i++) t.equal(statusOf(await answered(s.port, upgradeRequest('/echo%'))), 400)
  await until(() => serverSockets(s.port).length === 0, 'the server to close its sockets')
  t.same(serverSockets(s.port), [], 'no server socket left on the port (CLOSE-WAIT on main)')
  t.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status, 200)
  s.child.kill('SIGTERM')
  t.equal(await exitCode(s), 0)
  await logged(s, 'stopped')
})
