import t from 'tap'
import { originAllowed } from '../../src/security/origin.js'
import { upgradeStatus } from '../helpers/client.js'
import { stillServes } from '../helpers/security.js'
import { endedSessions, startServer } from '../helpers/server.js'

const same = { origins: null, requireOrigin: false }

t.test('default: same origin only; no Origin allowed unless required', async (t) => {
  t.ok(originAllowed(same, 'http://example.com:8080', 'example.com:8080'))
  t.ok(originAllowed(same, 'https://Example.com', 'example.com'), 'default ports, case')
  t.ok(originAllowed(same, 'https://example.com', 'example.com:443'))
  t.ok(originAllowed(same, 'http://[::1]:81', '[::1]:81'))
  t.notOk(originAllowed(same, 'http://evil.com', 'example.com'), 'another site')
  t.notOk(originAllowed(same, 'http://example.com:8081', 'example.com:8080'), 'another port')
  t.notOk(originAllowed(same, 'https://example.com.evil.com', 'example.com'))
  t.notOk(originAllowed(same, 'null', 'example.com'), 'opaque origin')
  t.notOk(originAllowed(same, 'not a url', 'example.com'))
  t.notOk(originAllowed(same, 'http://example.com/path', 'example.com'), 'an origin has no path')
  t.notOk(originAllowed(same, 'http://example.com', undefined), 'no Host')
  t.notOk(originAllowed(same, 'http://example.com', 'exa mple.com'), 'bad Host')
  t.notOk(originAllowed(same, 'http://example.com', 'example.com/x'), 'Host with a path')
  t.ok(originAllowed(same, 'foo://example.com', 'example.com'), 'a scheme without a default port: host alone')
  t.ok(originAllowed(same, undefined, 'example.com'), 'non-browser clients send no Origin')
  t.notOk(originAllowed({ origins: null, requireOrigin: true }, undefined, 'example.com'))
})

t.test('listed origins: exact, wildcard subdomains, null and *', async (t) => {
  const policy = { origins: ['https://app.example.com', 'https://*.example.org', 'https://*.example.net:8443', 'null'], requireOrigin: false }
  t.ok(originAllowed(policy, 'https://app.example.com', 'other'))
  t.ok(originAllowed(policy, 'HTTPS://APP.EXAMPLE.COM', 'other'))
  t.notOk(originAllowed(policy, 'http://app.example.com', 'other'), 'scheme matters')
  t.ok(originAllowed(policy, 'https://a.example.org', 'x'))
  t.ok(originAllowed(policy, 'https://a.b.example.org', 'x'))
  t.notOk(originAllowed(policy, 'https://example.org', 'x'), 'the wildcard needs a subdomain')
  t.notOk(originAllowed(policy, 'https://evilexample.org', 'x'))
  t.notOk(originAllowed(policy, 'https://a.example.org:444', 'x'), 'port matters')
  t.notOk(originAllowed(policy, 'http://a.example.org', 'x'))
  t.ok(originAllowed(policy, 'https://a.example.net:8443', 'x'))
  t.notOk(originAllowed(policy, 'https://a.example.org/x', 'x'), 'malformed origin')
  t.ok(originAllowed(policy, 'null', 'x'))
  t.notOk(originAllowed({ origins: ['https://*.bad pattern'], requireOrigin: false }, 'https://a.bad', 'x'))
  t.ok(originAllowed({ origins: ['*'], requireOrigin: false }, 'https://anything', 'x'))
  t.notOk(originAllowed({ origins: ['https://a.com'], requireOrigin: false }, 'null', 'x'))
})

t.test('cross-site requests get 403 before any process starts', async (t) => {
  const s = await startServer(t, `
/echo:
  command: [cat]
/strict:
  command: [cat]
  requireOrigin: true
  origins: ["https://*.example.com"]
/open:
  command: [cat]
  origins: ["*"]
`)
  const host = `http://127.0.0.1:${s.port}`
  t.equal(await upgradeStatus(`${s.url}/echo`, { origin: 'https://evil.example' }), 403, 'hijacking attempt')
  t.equal(await upgradeStatus(`${s.url}/echo`, { origin: `http://127.0.0.1:${s.port + 1}` }), 403, 'other port')
  t.equal(await upgradeStatus(`${s.url}/echo`, { origin: 'null' }), 403, 'sandboxed page')
  t.equal(await upgradeStatus(`${s.url}/echo`, { origin: host }), 101, 'same origin')
  t.equal(await upgradeStatus(`${s.url}/echo`), 101, 'no Origin')
  t.equal(await upgradeStatus(`${s.url}/strict`), 403, 'Origin required')
  t.equal(await upgradeStatus(`${s.url}/strict`, { origin: 'https://a.example.com' }), 101)
  t.equal(await upgradeStatus(`${s.url}/strict`, { origin: host }), 403, 'listed origins replace same-origin')
  t.equal(await upgradeStatus(`${s.url}/open`, { origin: 'https://anywhere' }), 101)
  const res = await fetch(`${host}/echo`, { headers: { origin: 'https://evil.example' } })
  t.equal(res.status, 403)
  t.same(await res.json(), { statusCode: 403, code: 'WSEXEC_ERR_ORIGIN_NOT_ALLOWED', error: 'Forbidden', message: 'Origin https://evil.example may not connect to /echo' })
  t.equal(await endedSessions(s, 4), 4, 'only accepted requests became sessions')
  await stillServes(t, s)
})
