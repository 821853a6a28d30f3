import t from 'tap'
import { connect, until, upgradeStatus } from '../helpers/client.js'
import { node, startServer, type TestServer } from '../helpers/server.js'

/** REMOTE_ADDR as the program saw it; resolves once the session has ended and given its place back. */
async function remoteAddr (s: TestServer, headers: Record<string, string>): Promise<string> {
  const c = connect(`${s.url}/env`, { headers })
  const env = JSON.parse((await c.received(1))[0] as string) as Record<string, string>
  c.ws.close()
  await c.closed
  await until(() => s.app.wsexec.sessions.size === 0, 'the session to end')
  return env['REMOTE_ADDR'] as string
}

t.test('without trustProxy, X-Forwarded-For is ignored', async (t) => {
  const s = await startServer(t, `maxSessionsPerClient: 1\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  t.equal(await remoteAddr(s, { 'X-Forwarded-For': '203.0.113.9' }), '127.0.0.1')
  const first = connect(`${s.url}/env`, { headers: { 'X-Forwarded-For': '203.0.113.1' } })
  await first.opened
  t.equal(await upgradeStatus(`${s.url}/env`, { headers: { 'X-Forwarded-For': '203.0.113.2' } }), 429, 'a forged header does not escape the per-client limit')
  first.ws.close()
  await first.closed
})

t.test('with trustProxy, REMOTE_ADDR and the per-client limits use X-Forwarded-For', async (t) => {
  const s = await startServer(t, `maxSessionsPerClient: 1\ntrustProxy: [127.0.0.1/32, "::1"]\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  t.equal(await remoteAddr(s, { 'X-Forwarded-For': '203.0.113.9' }), '203.0.113.9')
  t.equal(await remoteAddr(s, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.9' }), '203.0.113.9', 'only the trusted hop is believed')
  const first = connect(`${s.url}/env`, { headers: { 'X-Forwarded-For': '203.0.113.1' } })
  await first.opened
  t.equal(await upgradeStatus(`${s.url}/env`, { headers: { 'X-Forwarded-For': '203.0.113.1' } }), 429, 'same client behind the proxy')
  t.equal(await upgradeStatus(`${s.url}/env`, { headers: { 'X-Forwarded-For': '203.0.113.2' } }), 101, 'another client behind the proxy')
  first.ws.close()
  await first.closed
})
