import t from 'tap'
import { SessionCounter } from '../../src/security/limits.js'
import { connect, until, upgradeStatus, type Client } from '../helpers/client.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { rawConnect, statusOf, upgradeRequest, type RawConnection } from '../helpers/raw.js'
import { stillServes } from '../helpers/security.js'
import { startedSessions, startServer, type TestServer } from '../helpers/server.js'

t.test('the counter admits within every limit and releases once', async (t) => {
  const counter = new SessionCounter({ maxSessions: 3, maxSessionsPerClient: 2 })
  const none = { maxSessions: 0, maxSessionsPerClient: 0 }
  const a = counter.admit('/a', none, 'x')
  const b = counter.admit('/a', none, 'x')
  t.equal(counter.admit('/a', none, 'x'), 'client')
  t.equal(counter.admit('/b', { maxSessions: 0, maxSessionsPerClient: 5 }, 'x'), 'client', 'the server-wide client limit applies to every route')
  const c = counter.admit('/a', none, 'y')
  t.equal(counter.admit('/a', none, 'z'), 'server')
  t.equal(counter.size, 3)
  if (typeof a === 'string' || typeof b === 'string' || typeof c === 'string') throw new Error('admitted')
  a.release()
  a.release()
  t.equal(counter.size, 2, 'a second release does nothing')
  t.equal(counter.admit('/r', { maxSessions: 1, maxSessionsPerClient: 0 }, 'z') !== 'route', true)
  t.equal(counter.admit('/r', { maxSessions: 1, maxSessionsPerClient: 0 }, 'w'), 'server')
  b.release()
  t.equal(counter.admit('/r', { maxSessions: 1, maxSessionsPerClient: 0 }, 'w'), 'route')
  t.equal(counter.admit('/q', { maxSessions: 0, maxSessionsPerClient: 1 }, 'y') !== 'client', true)
  t.equal(counter.admit('/q', { maxSessions: 0, maxSessionsPerClient: 1 }, 'y'), 'server')
})

/** Opens `n` connections at once; resolves to how many opened and the refusals' statuses and Retry-After. */
async function burst (url: string, n: number): Promise<{ open: Client[], refused: Array<{ status: number, retryAfter: string | undefined }> }> {
  const results = await Promise.all(Array.from({ length: n }, async () => {
    const c = connect(url)
    return Promise.race([
      c.opened.then(() => ({ client: c })),
      new Promise<{ status: number, retryAfter: string | undefined }>((resolve) => {
        c.ws.on('error', () => {})
        c.ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode as number, retryAfter: res.headers['retry-after'] }); res.resume() })
      })
    ])
  }))
  return {
    open: results.flatMap((r) => 'client' in r ? [r.client] : []),
    refused: results.flatMap((r) => 'client' in r ? [] : [r])
  }
}

async function closeAll (clients: Client[]): Promise<void> {
  for (const c of clients) c.ws.close()
  await Promise.all(clients.map((c) => c.closed))
}

t.test('maxSessions 0 is no server-wide limit (websocketd\'s --maxforks 0)', async (t) => {
  const counter = new SessionCounter({ maxSessions: 0, maxSessionsPerClient: 100 })
  const held = Array.from({ length: 1001 }, (_, i) => counter.admit('/a', { maxSessions: 0, maxSessionsPerClient: 0 }, `10.0.${i >> 8}.${i & 255}`))
  t.ok(held.every((a) => typeof a === 'object'), 'more than the default 1000 at once')
  t.equal(counter.size, 1001)
  t.equal(counter.admit('/a', { maxSessions: 1001, maxSessionsPerClient: 0 }, '10.9.9.9'), 'route', 'a route limit still applies')
})

t.test('a burst of 200 connections over maxSessions: 503 with Retry-After, no process for them', async (t) => {
  // A burst this size at once would pass the connection cap (2 × maxSessions): those would be dropped unanswered.
  const s = await startServer(t, 'maxSessions: 20\nmaxConnections: 1000\nroutes:\n  /echo:\n    command: [cat]\n    closeGrace: 100ms\n')
  const { open, refused } = await burst(`${s.url}/echo`, 200)
  t.equal(open.length, 20)
  t.equal(refused.length, 180)
  t.ok(refused.every((r) => r.status === 503 && r.retryAfter === '5'), '503 Retry-After: 5')
  t.equal(await startedSessions(s, 20), 20, 'no process for refused connections')
  await closeAll(open)
  await stillServes(t, s)
})

t.test('per-client and per-route limits: 429 and 503', async (t) => {
  const s = await startServer(t, `maxSessionsPerClient: 30
routes:
  /echo:
    command: [cat]
    closeGrace: 100ms
  /one:
    command: [cat]
    maxSessions: 1
  /two-each:
    command: [cat]
    maxSessionsPerClient: 2
`)
  const client = await burst(`${s.url}/echo`, 50)
  t.equal(client.open.length, 30)
  t.ok(client.refused.every((r) => r.status === 429 && r.retryAfter === '5'), '429 for one client over its limit')
  await closeAll(client.open)
  // Their slots come back when their programs have exited (the spawner tells the exit).
  await until(() => s.app.wsexec.sessions.size === 0, 'the sessions to end')
  const one = await burst(`${s.url}/one`, 5)
  t.equal(one.open.length, 1)
  t.ok(one.refused.every((r) => r.status === 503))
  const each = await burst(`${s.url}/two-each`, 5)
  t.equal(each.open.length, 2)
  t.ok(each.refused.every((r) => r.status === 429))
  await closeAll([...one.open, ...each.open])
  await stillServes(t, s)
})

t.test('a place is given back when the upgrade fails after the checks', async (t) => {
  const s = await startServer(t, 'maxSessions: 1\nroutes:\n  /echo:\n    command: [cat]\n')
  // A bad key passes the route checks, then ws refuses the upgrade: the place must be freed.
  const bad = await rawConnect(s.port)
  bad.socket.write(upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'bad' }))
  await bad.closed
  t.equal(statusOf(bad.received()), 400)
  await until(async () => await upgradeStatus(`${s.url}/echo`) === 101, 'the place to be given back')
  await stillServes(t, s)
})

t.test('connections over maxConnections are answered 503 and closed; an idle keep-alive connection is closed after keepAliveTimeout', async (t) => {
  const s = await startServer(t, 'maxSessions: 2\nkeepAliveTimeout: 200ms\nroutes:\n  /echo:\n    command: [cat]\n')
  t.equal(await connectionsMax(s), 4, 'by default 2 × maxSessions')
  const idle: RawConnection[] = []
  for (let i = 0; i < 4; i++) {
    const c = await rawConnect(s.port)
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await until(() => c.received().includes('{"status":"ok"}'), 'the health answer')
    idle.push(c)
  }
  const over = await rawConnect(s.port)
  over.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  await over.closed
  t.equal(statusOf(over.received()), 503, 'the fifth connection is answered 503 and closed')
  t.match(over.received(), /retry-after: 5\r\n[^]*"code":"WSEXEC_ERR_TOO_MANY_CONNECTIONS"/, 'with Retry-After and the error code')
  await Promise.all(idle.map((c) => c.closed))
  t.pass('the server closed the idle keep-alive connections')
  const samples = parseExposition(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text())
  t.equal(valueOf(samples, 'wsexec_requests_refused_total', { reason: 'too_many_connections' }), 1)
  await stillServes(t, s)

  const { loadConfigText } = await import('../../src/config/pipeline.js')
  s.app.wsexec.reload(await loadConfigText('maxConnections: 7\nkeepAliveTimeout: 3s\nroutes:\n  /echo:\n    command: [cat]\n', {}, { source: 'next.yaml', baseDir: '/', env: { PATH: process.env['PATH'] } }))
  t.equal(await connectionsMax(s), 7, 'a reload applies the cap')
  t.equal(s.app.server.keepAliveTimeout, 3000, 'and the keep-alive timeout')
  t.notOk(s.logs.some((r) => r.msg === 'restart to apply these settings'))
})

t.test('a failed accept (EMFILE) is logged and the server serves on', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  t.equal(s.app.server.keepAliveTimeout, 5000, 'by default an idle keep-alive connection is closed after 5 s')
  t.equal(await connectionsMax(s), 2000, 'and at most 2 × 1000 connections are open')
  s.app.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))
  t.match(s.logs.find((r) => r.msg === 'server error'), { level: 40, err: { code: 'EMFILE', message: 'accept EMFILE' } })
  await stillServes(t, s)
})

/** The connection cap in effect, from /metrics. */
async function connectionsMax (s: TestServer): Promise<number> {
  return valueOf(parseExposition((await s.app.inject({ url: '/metrics' })).body), 'wsexec_connections_max')
}
