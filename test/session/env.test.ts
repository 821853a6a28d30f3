import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { routeEnvironment, sessionEnvironment, type RequestInfo } from '../../src/session/env.js'

const [route] = parseConfig('routes:\n  /r:\n    command: [cat]\n    passEnv: [PATH, MISSING]\n', 'x', '/').routes

const request: RequestInfo = {
  remoteAddress: '::1',
  remotePort: 5000,
  serverPort: 8443,
  url: '/r',
  pathname: '/r',
  headers: { host: '[::1]:8443', 'x-many': ['a', 'b'] as unknown as string, 'x-odd-name': 'y', 'x.odd-name': 'dot', x_odd_name: 'underscore' },
  secure: true
}

t.test('constant part: passEnv variables that exist, and the CGI constants', async (t) => {
  const base = routeEnvironment(route!, { PATH: '/bin', OTHER: 'x' }, 'wsexec/1.2.3')
  t.equal(base['PATH'], '/bin')
  t.notOk('MISSING' in base, 'unset variables are not invented')
  t.notOk('OTHER' in base)
  t.equal(base['SERVER_SOFTWARE'], 'wsexec/1.2.3')
  t.ok(Object.isFrozen(base))
})

t.test('per session: IPv6 hosts, repeated headers, header names other than letters, digits and -, TLS', async (t) => {
  const env = sessionEnvironment(routeEnvironment(route!, {}, 'w'), route!, request, {}, 'id-1')
  t.equal(env['SERVER_NAME'], '[::1]')
  t.equal(env['REMOTE_ADDR'], '::1')
  t.equal(env['HTTP_X_MANY'], 'a, b')
  t.equal(env['HTTP_X_ODD_NAME'], 'y', 'names with . or _ are not passed: they would pose as X-Odd-Name')
  t.equal(env['HTTPS'], 'on')
  t.equal(env['QUERY_STRING'], '')
  t.equal(env['UNIQUE_ID'], 'id-1')
  const noHost = sessionEnvironment({}, route!, { ...request, headers: {} }, {}, 'id-2')
  t.equal(noHost['SERVER_NAME'], '')
})
