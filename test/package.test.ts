// The package as a program that depends on it uses it: everything from wsexec comes through its
// public entry ('wsexec', resolved by package.json "exports" to the built dist/), nothing from src/.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import t from 'tap'
import { buildServer, CloseCode, loadConfig, type Config } from 'wsexec'
import { connect, refusedUpgrade } from './helpers/client.js'
import { fixture, q } from './helpers/server.js'

const run = promisify(execFile)
const TOKEN = 'ci-token-0123456789abcdef'

// A configuration that was never loaded does not compile (npm test type-checks this line).
// @ts-expect-error: buildServer takes a LoadedConfig only
export const unloaded = async (config: Config): Promise<unknown> => buildServer(config, { logger: pino({ level: 'silent' }) })

t.test('loadConfig and buildServer from the package entry serve an authenticated wss:// session', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-package-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir })
  await writeFile(join(dir, 'tokens.txt'), `ci:${TOKEN}\n`)
  // Relative file names resolve against the file's folder; the port is overridden as --port would.
  await writeFile(join(dir, 'routes.yaml'), `listen: { port: 8080 }
tls: { cert: server.pem, key: server.key }
auth: { bearer: { tokensFile: tokens.txt } }
routes:
  /hello:
    command: [${q(process.execPath)}, ${q(fixture('exit.mjs'))}, hello, world]
    env: { WSEXEC_TEST_EXIT: "3" }
`)
  const config = await loadConfig('routes.yaml', { port: 0 }, { cwd: dir, env: { PATH: process.env['PATH'] } })
  t.equal(config.listen.port, 0, 'the override applies')
  t.ok(config.security.tls?.pem.cert.length, 'the certificate is read')
  t.equal(config.auth?.credentials.tokens.length, 1, 'the token file is read')
  const app = await buildServer(config, { logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `wss://127.0.0.1:${(app.server.address() as { port: number }).port}/hello`
  const ca = await readFile(join(dir, 'server.pem'))

  const c = connect(url, { ca, headers: { Authorization: `Bearer ${TOKEN}` } })
  const { code } = await c.closed
  t.same(c.messages.map(String), ['hello', 'world'], 'the program\'s output, one message a line')
  t.equal(code, CloseCode.EXIT_BASE + 3, 'its exit status in the close code')

  const refused = await refusedUpgrade(url, { ca })
  t.equal(refused.status, 401, 'without the token: 401 before any process starts')
  t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_UNAUTHORIZED' })
})
