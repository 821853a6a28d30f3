import { once } from 'node:events'
import t from 'tap'
import { connect, refusedUpgrade, upgradeStatus } from '../helpers/client.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { isRunning } from '../helpers/processes.js'
import { node, startServer } from '../helpers/server.js'

t.test('health and readiness answer plain GETs and never upgrade', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  const live = await fetch(`http://127.0.0.1:${s.port}/healthz`)
  t.equal(live.status, 200)
  t.same(await live.json(), { status: 'ok' })
  const ready = await fetch(`http://127.0.0.1:${s.port}/readyz`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', sessions: 0 })
  t.equal(await upgradeStatus(`${s.url}/healthz`), 404)
  t.equal(await upgradeStatus(`${s.url}/metrics`), 404)
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0)
})

t.test('health paths are configurable', async (t) => {
  const s = await startServer(t, 'health: { live: /alive, ready: /ready }\nroutes:\n  /healthz:\n    command: [cat]\n')
  t.equal((await fetch(`http://127.0.0.1:${s.port}/alive`)).status, 200)
  t.equal((await fetch(`http://127.0.0.1:${s.port}/ready`)).status, 200)
  t.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status, 426, '/healthz is a route here')
})

t.test('drain: readiness fails, new upgrades get 503, running sessions finish normally', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  const c = connect(`${s.url}/echo`)
  await c.opened
  const drained = s.app.wsexec.drain(10_000)
  t.ok(s.app.wsexec.draining)
  const ready = await fetch(`http://127.0.0.1:${s.port}/readyz`)
  t.equal(ready.status, 503)
  t.same(await ready.json(), { status: 'draining' })
  t.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status, 200, 'still alive')
  const refused = await refusedUpgrade(`${s.url}/echo`)
  t.equal(refused.status, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_DRAINING' })
  c.ws.send('still served')
  t.same(await c.received(1), ['still served'])
  c.ws.close(1000)
  t.same(await c.closed, { code: 1000, reason: '' })
  await drained
  t.equal(s.app.wsexec.sessions.size, 0)
})

t.test('drain timeout: the rest are closed with 1001 and their process groups end', async (t) => {
  const s = await startServer(t, `/stubborn:\n  command: ${node('ignore-term.mjs')}\n  killGrace: 100ms\n`)
  const c = connect(`${s.url}/stubborn`)
  await c.received(1)
  const [session] = s.app.wsexec.sessions
  const pid = session?.pid as number
  await s.app.wsexec.drain(50)
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.match(await session?.done, { signal: 'SIGKILL', closeCode: 1001 })
  t.notOk(isRunning(pid))
})

t.test('drain with no sessions returns at once; the default timeout comes from the config', async (t) => {
  const s = await startServer(t, 'shutdown: { drainTimeout: 10ms }\nroutes:\n  /wait:\n    command: [cat]\n')
  await s.app.wsexec.drain()
  t.ok(s.app.wsexec.draining)
  const s2 = await startServer(t, 'shutdown: { drainTimeout: 10ms }\nroutes:\n  /wait:\n    command: [cat]\n')
  const c = connect(`${s2.url}/wait`)
  await c.opened
  await s2.app.wsexec.drain()
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
})

t.test('metrics: Prometheus exposition whose counters move', async (t) => {
  const s = await startServer(t, `
/ok:
  command: [echo, hi]
/fail:
  command: ${node('exit.mjs')}
  env: { WSEXEC_TEST_EXIT: "3" }
/kill:
  command: ${node('signal.mjs', 'SIGKILL')}
/echo:
  command: [cat]
`)
  const scrape = async (): Promise<ReturnType<typeof parseExposition>> => {
    const res = await fetch(`http://127.0.0.1:${s.port}/metrics`)
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    return parseExposition(await res.text())
  }
  const before = await scrape()
  t.equal(valueOf(before, 'wsexec_sessions_ended_total'), 0)
  t.ok(before.some((m) => m.name === 'process_cpu_user_seconds_total'), 'default process metrics')
  await connect(`${s.url}/ok`).closed
  await connect(`${s.url}/ok`).closed
  await connect(`${s.url}/fail`).closed
  await connect(`${s.url}/kill`).closed
  const echo = connect(`${s.url}/echo`)
  await echo.opened
  echo.ws.send('12345')
  await echo.received(1)
  const during = await scrape()
  t.equal(valueOf(during, 'wsexec_sessions_active', { route: '/echo' }), 1)
  echo.ws.close()
  await echo.closed
  await upgradeStatus(`${s.url}/nope`)
  await fetch(`http://127.0.0.1:${s.port}/echo`)
  await Promise.all([...s.app.wsexec.sessions].map((x) => x.done))
  const after = await scrape()
  t.equal(valueOf(after, 'wsexec_sessions_active', { route: '/echo' }), 0)
  t.equal(valueOf(after, 'wsexec_sessions_ended_total', { route: '/ok', outcome: 'exit_zero' }), 2)
  t.equal(valueOf(after, 'wsexec_sessions_ended_total', { route: '/fail', outcome: 'exit_nonzero' }), 1)
  t.equal(valueOf(after, 'wsexec_sessions_ended_total', { route: '/kill', outcome: 'signal' }), 1)
  t.equal(valueOf(after, 'wsexec_requests_refused_total', { reason: 'route_not_found' }), 1)
  t.equal(valueOf(after, 'wsexec_requests_refused_total', { reason: 'upgrade_required' }), 1)
  t.equal(valueOf(after, 'wsexec_session_duration_seconds_count', { route: '/ok' }), 2)
  t.equal(valueOf(after, 'wsexec_process_start_seconds_count', { route: '/ok' }), 2)
  t.ok(valueOf(after, 'wsexec_process_start_seconds_sum', { route: '/ok' }) > 0)
  t.equal(valueOf(after, 'wsexec_messages_total', { route: '/echo', direction: 'in' }), 1)
  t.equal(valueOf(after, 'wsexec_messages_total', { route: '/echo', direction: 'out' }), 1)
  t.equal(valueOf(after, 'wsexec_bytes_total', { route: '/echo', direction: 'in' }), 5)
  t.equal(valueOf(after, 'wsexec_bytes_total', { route: '/echo', direction: 'out' }), 5, 'payload bytes, as inbound')
})

t.test('metrics: spawn failures, draining refusals, a separate port, or none at all', async (t) => {
  const s = await startServer(t, 'metrics: { port: 0, path: /m }\nroutes:\n  /gone:\n    command: [/bin/true]\n')
  const metricsServer = s.app.wsexec.metricsServer
  t.ok(metricsServer)
  await metricsServer?.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => metricsServer?.close())
  const port = (metricsServer?.server.address() as { port: number }).port
  t.equal((await fetch(`http://127.0.0.1:${s.port}/m`)).status, 404, 'not on the main port')
  await s.app.wsexec.drain()
  await upgradeStatus(`${s.url}/gone`)
  const samples = parseExposition(await (await fetch(`http://127.0.0.1:${port}/m`)).text())
  t.equal(valueOf(samples, 'wsexec_requests_refused_total', { reason: 'draining' }), 1)

  const off = await startServer(t, 'metrics: { enabled: false }\nroutes:\n  /a:\n    command: [cat]\n')
  t.equal((await fetch(`http://127.0.0.1:${off.port}/metrics`)).status, 404)
  t.equal(off.app.wsexec.metricsServer, undefined)
})

t.test('reload: new sessions get the new routes, running sessions keep theirs', async (t) => {
  const s = await startServer(t, '/a:\n  command: [cat]\n')
  const old = connect(`${s.url}/a`)
  await old.opened
  const { loadConfigText } = await import('../../src/config/pipeline.js')
  s.app.wsexec.reload(await loadConfigText('routes:\n  /b:\n    command: [echo, new]\n', {}, { source: 'next.yaml', baseDir: '/', env: { PATH: process.env['PATH'] } }))
  t.equal(s.app.wsexec.config.source, 'next.yaml')
  t.equal(await upgradeStatus(`${s.url}/a`), 404, 'the old route is gone for new sessions')
  const b = connect(`${s.url}/b`)
  await b.closed
  t.same(b.messages, ['new'])
  old.ws.send('old session still runs')
  t.same(await old.received(1), ['old session still runs'])
  old.ws.close()
  await old.closed
  t.ok(s.logs.some((r) => r.msg === 'configuration reloaded' && r['routes'] === 1))
})

t.test('reload: server-wide session limits and the message size limit follow; what needs a restart is logged', async (t) => {
  const s = await startServer(t, 'maxSessions: 1\nroutes:\n  /a:\n    command: [cat]\n    maxMessageBytes: 16\n')
  const first = connect(`${s.url}/a`)
  await first.opened
  t.equal(await upgradeStatus(`${s.url}/a`), 503, 'one session at most')
  const { loadConfigText } = await import('../../src/config/pipeline.js')
  const next = 'maxSessions: 2\ntrustProxy: [127.0.0.1]\nmetrics: { path: /m }\nroutes:\n  /a:\n    command: [cat]\n    maxMessageBytes: 100000\n'
  s.app.wsexec.reload(await loadConfigText(next, {}, { source: 'next.yaml', baseDir: '/', env: { PATH: process.env['PATH'] } }))
  const second = connect(`${s.url}/a`)
  await second.opened
  const line = 'x'.repeat(50_000)
  second.ws.send(line)
  t.same(await second.received(1), [line], 'a message above the old limit is accepted')
  t.same(s.logs.find((r) => r.msg === 'restart to apply these settings')?.['keys'], ['trustProxy', 'metrics'])
  t.equal((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status, 200, 'metrics stay where they were')
  for (const c of [first, second]) c.ws.close()
  await Promise.all([first.closed, second.closed])
})

t.test('the metrics and health endpoints are not counted as sessions', async (t) => {
  const s = await startServer(t, '/a:\n  command: [cat]\n')
  const c = connect(`${s.url}/a`)
  await c.opened
  const ready = await (await fetch(`http://127.0.0.1:${s.port}/readyz`)).json() as { sessions: number }
  t.equal(ready.sessions, 1)
  c.ws.close()
  await once(c.ws, 'close')
})
