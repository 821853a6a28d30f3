import t from 'tap'
import { parseConfig } from '../../src/config/load.js'

const parse = (yaml: string) => parseConfig(yaml, 'c.yaml', '/base')

t.test('defaults are safe but out of the way', async (t) => {
  const c = parse('routes:\n  /a:\n    command: [cat]\n')
  t.same(c.security, { tls: null, allowedHosts: null, trustProxy: null, pingIntervalMs: 30_000, handshakeTimeoutMs: 5000, maxHeaderBytes: 16_384, maxSessions: 1000, maxSessionsPerClient: 100, maxConnections: 2000, keepAliveTimeoutMs: 5000 })
  t.match(c.routes[0], { origins: null, requireOrigin: false, auth: null, passHeaders: [], maxSessions: 0, maxSessionsPerClient: 0, maxMessageBytes: 1_048_576, idleTimeoutMs: 0, maxLifetimeMs: 0 })
})

t.test('routes inherit the top level and may override it', async (t) => {
  const c = parse(`origins: ["https://a.com"]
requireOrigin: true
idleTimeout: 5m
maxLifetime: 1h
maxMessageBytes: 100
auth: { bearer: { tokensFile: tokens }, realm: top, maxFailures: 3, failureWindow: 10s }
tls: { cert: c.pem, key: k.pem }
allowedHosts: [Example.COM, "*.example.net", "::1", "[fe80::1]", 10.0.0.5, "*"]
trustProxy: [10.0.0.1, "fd00::/8"]
pingInterval: 0
routes:
  /a:
    command: [cat]
  /b:
    command: [cat]
    origins: ["*"]
    requireOrigin: false
    idleTimeout: 0
    maxMessageBytes: 5
    maxSessions: 3
    maxSessionsPerClient: 1
    auth: { basic: { usersFile: /etc/users } }
    passHeaders: [Cookie]
`)
  t.match(c.routes[0], { origins: ['https://a.com'], requireOrigin: true, idleTimeoutMs: 300_000, maxLifetimeMs: 3_600_000, maxMessageBytes: 100, auth: { realm: 'top', maxFailures: 3, failureWindowMs: 10_000, bearer: { tokensFile: '/base/tokens' }, basic: null, key: 'auth', at: { line: 6, column: 7 } } })
  t.match(c.routes[1], { origins: ['*'], requireOrigin: false, idleTimeoutMs: 0, maxMessageBytes: 5, maxSessions: 3, maxSessionsPerClient: 1, passHeaders: ['cookie'], auth: { realm: 'wsexec', maxFailures: 10, failureWindowMs: 60_000, bearer: null, basic: { usersFile: '/etc/users' }, key: 'routes./b.auth' } })
  t.equal(c.auth, c.routes[0]?.auth, 'the top level auth is kept for the server endpoints')
  t.match(c.security, { tls: { cert: '/base/c.pem', key: '/base/k.pem', ca: undefined, pem: null }, trustProxy: ['10.0.0.1', 'fd00::/8'], pingIntervalMs: 0, allowedHosts: ['example.com', '*.example.net', '[::1]', '[fe80::1]', '10.0.0.5', '*'] })
})

t.test('bad security settings are reported with file:line:column:key', async (t) => {
  t.throws(() => parse(`origins: [example.com, "https://*.a.com", "*"]
trustProxy: [10.0.0.1/33, nope, "::1/129", 1.2.3.4/x, 1.2.3.4/8/9]
auth: { bearer: { tokensFile: a, tokensEnv: B } }
allowedHosts: ["localhost:8080", "a.*.com", "[nope]", "*.", "http://x"]
routes:
  /a:
    command: [cat]
  /b:
    command: [cat]
    origins: ["https://a.com/"]
`), {
    message: [
      'Invalid configuration:',
      'c.yaml:1:11: origins.0: "example.com" is not an origin (scheme://host[:port], *.host, null or *)',
      'c.yaml:2:14: trustProxy.0: "10.0.0.1/33" is not an IP address or CIDR range',
      'c.yaml:2:27: trustProxy.1: "nope" is not an IP address or CIDR range',
      'c.yaml:2:33: trustProxy.2: "::1/129" is not an IP address or CIDR range',
      'c.yaml:2:44: trustProxy.3: "1.2.3.4/x" is not an IP address or CIDR range',
      'c.yaml:2:55: trustProxy.4: "1.2.3.4/8/9" is not an IP address or CIDR range',
      'c.yaml:3:17: auth.bearer: give tokensFile or tokensEnv, not both',
      'c.yaml:4:16: allowedHosts.0: "localhost:8080" is not a host name, an IP address, *.suffix or * (without a port)',
      'c.yaml:4:34: allowedHosts.1: "a.*.com" is not a host name, an IP address, *.suffix or * (without a port)',
      'c.yaml:4:45: allowedHosts.2: "[nope]" is not a host name, an IP address, *.suffix or * (without a port)',
      'c.yaml:4:55: allowedHosts.3: "*." is not a host name, an IP address, *.suffix or * (without a port)',
      'c.yaml:4:61: allowedHosts.4: "http://x" is not a host name, an IP address, *.suffix or * (without a port)',
      'c.yaml:10:15: routes./b.origins.0: "https://a.com/" is not an origin (scheme://host[:port], *.host, null or *)'
    ].join('\n')
  })
  t.throws(() => parse('routes:\n  /a:\n    command: [cat]\n    auth: { digest: {} }\n    idleTimeout: soon\n'), {
    message: /c.yaml:4:11: routes.\/a.auth: must be an object with bearer, basic and\/or header, or false\nc.yaml:5:18: routes.\/a.idleTimeout: must be a duration/
  })
  t.throws(() => parse('auth: { bearer: {} }\nroutes:\n  /a:\n    command: [cat]\n'), { message: /auth: must be an object with bearer/ })
  t.throws(() => parse('keepAliveTimeout: 0s\nmaxConnections: 0\nroutes:\n  /a:\n    command: [cat]\n'), { message: /c.yaml:2:17: maxConnections: must be at least 1/ })
  t.throws(() => parse('keepAliveTimeout: 0s\nroutes:\n  /a:\n    command: [cat]\n'), { message: 'Invalid configuration:\nc.yaml:1:19: keepAliveTimeout: must be more than 0 (0 would keep idle connections open forever)' })
})

t.test('the connection cap follows maxSessions unless it is set', async (t) => {
  t.match(parse('maxSessions: 10\nkeepAliveTimeout: 1m\nroutes:\n  /a:\n    command: [cat]\n').security, { maxConnections: 20, keepAliveTimeoutMs: 60_000 })
  t.match(parse('maxSessions: 10\nmaxConnections: 15\nroutes:\n  /a:\n    command: [cat]\n').security, { maxConnections: 15 })
  t.match(parse('maxSessions: 0\nroutes:\n  /a:\n    command: [cat]\n').security, { maxSessions: 0, maxConnections: Infinity }, 'maxSessions 0 (--maxforks 0): no session limit, no connection cap')
})
