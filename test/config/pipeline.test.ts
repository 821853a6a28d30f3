import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig, loadConfigObject, loadConfigText } from '../../src/config/pipeline.js'

t.test('without a context: the working folder, no server environment (the default search path), source <text>', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-pipeline-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'listen: { socket: s.sock }\nroutes:\n  /a:\n    command: [cat]\n')
  const config = await loadConfig(file)
  t.equal(config.routes[0]?.executable.endsWith('/cat'), true, 'cat found in /usr/local/bin:/usr/bin:/bin')
  t.equal(config.listen.socket, join(dir, 's.sock'), 'relative to the file')
  t.equal((await loadConfig(file, { port: 9000 })).listen.socket, undefined, 'a port override drops the file\'s socket')
  t.equal((await loadConfig(file, { socket: '/run/x.sock', port: 9000 })).listen.socket, '/run/x.sock')
  const text = await loadConfigText('routes:\n  /a:\n    command: [cat]\n    cwd: .\n')
  t.equal(text.source, '<text>')
  t.equal(text.routes[0]?.cwd, process.cwd())
  const object = await loadConfigObject({ routes: { '/b': { command: ['cat'] } } }, { console: true, drainTimeoutMs: 5 })
  t.match(object, { console: true, shutdown: { drainTimeoutMs: 5 }, routes: [{ path: '/b' }] })
  await t.rejects(loadConfigText('routes:\n  /a:\n    command: [no-such-program-here]\n', {}, { source: 'x.yaml' }), { name: 'FastifyError', code: 'WSEXEC_ERR_CONFIG', message: /x\.yaml:3:15: routes\.\/a\.command\.0: program "no-such-program-here" not found/ })
})
