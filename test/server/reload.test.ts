import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { restartKeys } from '../../src/server/reload.js'

const ROUTES = 'routes:\n  /a:\n    command: [cat]\n'

function config (top: string, routes = ROUTES): ReturnType<typeof parseConfig> {
  return parseConfig(top + routes, 'c.yaml', '/srv')
}

t.test('restartKeys names the server-wide settings only a restart applies', async (t) => {
  const built = config('')
  t.same(restartKeys(built, config('', 'routes:\n  /b:\n    command: [echo]\n    maxMessageBytes: 10\n')), [], 'routes: applied')
  t.same(restartKeys(built, config('maxSessions: 3\nmaxSessionsPerClient: 2\npingInterval: 5s\nshutdown: { drainTimeout: 1s }\nlisten: { port: 9 }\n')), [], 'limits, ping, drain: applied; listen: the command says it')
  t.same(restartKeys(built, config('handshakeTimeout: 1s\nmaxHeaderBytes: 2048\nhealth: { live: /alive }\nconsole: true\n')), ['handshakeTimeout', 'maxHeaderBytes', 'health', 'console'])
  t.same(restartKeys(built, config('static: { dir: www }\n')), ['static'], 'static files added')
  const files = config('static: { dir: www, prefix: /app/ }\n')
  t.same(restartKeys(files, config('\nstatic: { dir: www, prefix: /app/ }\n')), [], 'the same folder, written elsewhere in the file')
  t.same(restartKeys(files, config('static: { dir: other, prefix: /app/ }\n')), ['static'])
})

t.test('restartKeys: TLS on or off, and client certificates on or off, need a restart; other files do not', async (t) => {
  const tls = config('tls: { cert: a.pem, key: a.key }\n')
  t.same(restartKeys(config(''), tls), ['tls'])
  t.same(restartKeys(tls, config('')), ['tls'])
  t.same(restartKeys(tls, config('tls: { cert: b.pem, key: b.key }\n')), [], 'other certificate files: a reload reads them')
  t.same(restartKeys(tls, config('tls: { cert: a.pem, key: a.key, ca: ca.pem }\n')), ['tls'], 'client certificates required from now on')
})

t.test('restartKeys: metrics count only as they are in effect', async (t) => {
  const built = config('')
  t.same(restartKeys(built, config('metrics: { enabled: false }\n')), ['metrics'])
  t.same(restartKeys(config('metrics: { enabled: false }\n'), config('metrics: { enabled: false, path: /m }\n')), [], 'a disabled endpoint\'s path')
  t.same(restartKeys(built, config('metrics: { host: 127.0.0.2 }\n')), [], 'a host without a port of its own')
  t.same(restartKeys(config('metrics: { port: 9100 }\n'), config('metrics: { port: 9100, host: 127.0.0.2 }\n')), ['metrics'])
  t.same(restartKeys(built, config('metrics: { path: /m }\n')), ['metrics'])
})
