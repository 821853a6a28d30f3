import { BlockList } from 'node:net'
import t from 'tap'
import type { AuthSpec } from '../../src/config/security.js'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { allowedBy, headerIdentity, isTrustedPeer, untrustedIdentityHeaders } from '../../src/security/trusted-header.js'
import { connect, refusedUpgrade } from '../helpers/client.js'
import { node, startServer } from '../helpers/server.js'

const TOKEN = 'ci-token-0123456789abcdef'
const ENV = { PATH: process.env['PATH'], WSEXEC_TOKENS: `ci:${TOKEN}` }

async function environment (url: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const c = connect(url, { headers })
  const [line] = await c.received(1)
  c.ws.close()
  return JSON.parse(String(line)) as Record<string, string>
}

function config (trustProxy: string, route = '', auth = 'header: { name: X-Forwarded-User, groups: X-Forwarded-Groups }'): string {
  return `trustProxy: [${trustProxy}]\nauth: { ${auth} }\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n${route}`
}

t.test('from a trusted peer the header authenticates its user, with its groups', async (t) => {
  const s = await startServer(t, config('127.0.0.1'), ENV)
  const env = await environment(`${s.url}/env`, { 'X-Forwarded-User': 'alice', 'X-Forwarded-Groups': 'dev, ops' })
  t.equal(env['REMOTE_USER'], 'alice')
  t.equal(env['AUTH_TYPE'], 'Proxy')
  t.equal(env['HTTP_X_FORWARDED_USER'], 'alice', 'the proxy\'s own header reaches the program as any header does')
  t.equal(env['HTTP_X_FORWARDED_GROUPS'], 'dev, ops')
})

t.test('from any other peer the header is ignored and never reaches the program', async (t) => {
  const headerOnly = await startServer(t, config('10.0.0.0/8'), ENV)
  const refused = await refusedUpgrade(`${headerOnly.url}/env`, { headers: { 'X-Forwarded-User': 'alice' } })
  t.equal(refused.status, 401)
  t.equal(refused.headers['www-authenticate'], undefined, 'no scheme a browser could answer')
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_UNAUTHORIZED' })

  const both = await startServer(t, config('10.0.0.0/8, "::1"', '', 'header: { name: X-Forwarded-User, groups: X-Forwarded-Groups }, bearer: { tokensEnv: WSEXEC_TOKENS }'), ENV)
  t.equal((await refusedUpgrade(`${both.url}/env`, { headers: { 'X-Forwarded-User': 'root' } })).status, 401)
  const env = await environment(`${both.url}/env`, { 'X-Forwarded-User': 'root', 'X-Forwarded-Groups': 'admin', Authorization: `Bearer ${TOKEN}` })
  t.equal(env['REMOTE_USER'], 'ci', 'another method still succeeds')
  t.equal(env['AUTH_TYPE'], 'Bearer')
  t.notOk('HTTP_X_FORWARDED_USER' in env, 'the claimed name is stripped')
  t.notOk('HTTP_X_FORWARDED_GROUPS' in env)
})

t.test('users and groups allow-lists: 403 for an authenticated user on neither, for every method', async (t) => {
  const s = await startServer(t, config('127.0.0.1', '    users: [alice, ci]\n  /ops:\n    command: [cat]\n    groups: [ops]\n  /open:\n    command: [cat]\n    auth: false\n    users: [alice]\n', 'header: { name: X-Forwarded-User, groups: X-Forwarded-Groups }, bearer: { tokensEnv: WSEXEC_TOKENS }'), ENV)
  const bob = await refusedUpgrade(`${s.url}/env`, { headers: { 'X-Forwarded-User': 'bob' } })
  t.equal(bob.status, 403)
  t.match(JSON.parse(bob.body), { code: 'WSEXEC_ERR_FORBIDDEN', message: 'bob may not use /env' })
  t.equal((await environment(`${s.url}/env`, { 'X-Forwarded-User': 'alice' }))['REMOTE_USER'], 'alice')
  t.equal((await environment(`${s.url}/env`, { Authorization: `Bearer ${TOKEN}` }))['REMOTE_USER'], 'ci', 'a token\'s name is on the list too')
  const inGroup = connect(`${s.url}/ops`, { headers: { 'X-Forwarded-User': 'bob', 'X-Forwarded-Groups': 'dev,ops' } })
  await inGroup.opened
  inGroup.ws.close()
  t.equal((await refusedUpgrade(`${s.url}/ops`, { headers: { 'X-Forwarded-User': 'carol', 'X-Forwarded-Groups': 'dev' } })).status, 403)
  t.equal((await refusedUpgrade(`${s.url}/ops`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 403, 'only the header names groups')
  const anonymous = await refusedUpgrade(`${s.url}/open`)
  t.equal(anonymous.status, 401, 'an allow-list on a route without auth needs a user all the same')
})

t.test('peers: IPv4-mapped addresses, IPv6, no header configured', async (t) => {
  const trusted = new BlockList()
  trusted.addSubnet('10.0.0.0', 8, 'ipv4')
  trusted.addAddress('::1', 'ipv6')
  const spec = { header: { name: 'x-user', groups: undefined, trusted } } as unknown as AuthSpec
  t.ok(isTrustedPeer(spec, '::ffff:10.1.2.3'))
  t.ok(isTrustedPeer(spec, '::1'))
  t.notOk(isTrustedPeer(spec, '127.0.0.1'))
  t.notOk(isTrustedPeer(spec, undefined), 'a Unix socket has no peer address')
  t.notOk(isTrustedPeer({ header: null } as unknown as AuthSpec, '::1'))
  t.same(untrustedIdentityHeaders(spec, '127.0.0.1'), ['x-user'])
  t.same(untrustedIdentityHeaders(spec, '10.0.0.1'), [])
  t.same(untrustedIdentityHeaders(null, '10.0.0.1'), [])
  t.same(headerIdentity(spec, { 'x-user': ['a', 'b'] as unknown as string }, '::1'), { name: 'a,b', type: 'Proxy', groups: [] })
  t.equal(headerIdentity(spec, { 'x-user': '  ' }, '::1'), undefined, 'an empty name names no one')
  t.equal(headerIdentity(spec, {}, '::1'), undefined)
  t.ok(allowedBy(null, null, { name: 'x', type: 'Basic' }))
  t.notOk(allowedBy(null, ['ops'], { name: 'x', type: 'Basic' }))
})

t.test('auth.header needs trustProxy', async (t) => {
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'c.yaml', '/')
      return []
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.line}:${p.column}: ${p.key}: ${p.message}`)
    }
  }
  t.same(problems('auth: { header: { name: X-User } }\nroutes:\n  /a: { command: [id], auth: { header: { name: X-User } } }\n'), [
    '1:17: auth.header: needs trustProxy: the header is believed from those proxies only',
    '3:40: routes./a.auth.header: needs trustProxy: the header is believed from those proxies only'
  ])
  t.same(problems('trustProxy: [127.0.0.1]\nroutes:\n  /a: { command: [id], auth: { header: { name: X-User } } }\n'), [])
  t.same(problems('trustProxy: [127.0.0.1]\nroutes:\n  /a: { command: [id], auth: { header: { name: "X_User" } } }\n').map((p) => p.split(': ').slice(1).join(': ')), ['routes./a.auth: must be an object with bearer, basic and/or header, or false'])
})
