import t from 'tap'
import { upgradeStatus } from '../helpers/client.js'
import { rawConnect, statusOf, upgradeRequest } from '../helpers/raw.js'
import { startServer } from '../helpers/server.js'

t.test('(a+)+b on a long segment: 404 without blocking; /healthz asked after it is answered too', async (t) => {
  const s = await startServer(t, 'routes:\n  /slow/:x:\n    command: [echo, "{x}"]\n    params: { x: "(a+)+b" }\n')
  const evil = await rawConnect(s.port)
  // 60 characters: about 2^60 steps for a backtracking matcher, which would never answer either request.
  evil.socket.write(upgradeRequest(`/slow/${'a'.repeat(60)}`))
  const health = await fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(30_000) })
  t.equal(health.status, 200)
  await evil.closed
  t.equal(statusOf(evil.received()), 404)
  t.equal(await upgradeStatus(`${s.url}/slow/${'a'.repeat(100)}b`), 101, 'a matching value still starts the program')
})

t.test('maxParamLength: a longer value is 404, whatever its pattern', async (t) => {
  const s = await startServer(t, 'maxParamLength: 10\nroutes:\n  /echo/:x:\n    command: [echo, "{x}"]\n    params: { x: ".+" }\n')
  t.equal(await upgradeStatus(`${s.url}/echo/${'x'.repeat(10)}`), 101)
  t.equal(await upgradeStatus(`${s.url}/echo/${'x'.repeat(11)}`), 404)
})

t.test('a value starting with - is 404 unless the parameter has allowDash: true', async (t) => {
  const s = await startServer(t, `routes:
  /grep/:x:
    command: [grep, "{x}", /etc/hostname]
    params: { x: "[a-zA-Z0-9 -]+" }
  /echo/:x:
    command: [echo, --, "{x}"]
    params: { x: { pattern: "[a-zA-Z0-9 -]+", allowDash: true } }
`)
  t.equal(await upgradeStatus(`${s.url}/grep/-r`), 404, 'grep -r never runs')
  t.equal(await upgradeStatus(`${s.url}/grep/%2Dr`), 404)
  t.equal(await upgradeStatus(`${s.url}/echo/-n`), 101, 'allowDash: true')
  t.match(s.logs.filter((r) => r.msg === 'request refused'), [{ status: 404, path: '/grep/-r' }, { status: 404 }])
})
