import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import bcrypt from 'bcryptjs'
import type { FastifyRequest } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { loadConfigText } from '../../src/config/pipeline.js'
import { authenticate, challenges, presentedCredentials, selectProtocol } from '../../src/security/auth.js'
import { buildServer } from '../../src/server/build.js'
import { connect, refusedUpgrade, upgradeStatus } from '../helpers/client.js'
import { rawConnect, upgradeRequest } from '../helpers/raw.js'
import { stillServes } from '../helpers/security.js'
import { fixture, node, q, startServer } from '../helpers/server.js'

const TOKEN = 'tok-0123456789abcdef-SECRET'
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

t.test('credentials are read from Authorization, a bearer. subprotocol or access_token', async (t) => {
  t.same(presentedCredentials({ authorization: `Bearer ${TOKEN}` }, '/'), { bearer: TOKEN, basic: undefined })
  t.same(presentedCredentials({ authorization: basic('al', 'p:w') }, '/'), { bearer: undefined, basic: { user: 'al', password: 'p:w' } })
  t.same(presentedCredentials({ authorization: basic('', 'x') }, '/'), { bearer: undefined, basic: undefined }, 'no user')
  t.same(presentedCredentials({ authorization: 'Bearer ' }, '/'), { bearer: undefined, basic: undefined })
  t.same(presentedCredentials({ 'sec-websocket-protocol': `chat, bearer.${TOKEN}` }, '/'), { bearer: TOKEN, basic: undefined })
  t.same(presentedCredentials({}, `/x?a=1&access_token=${TOKEN}`), { bearer: TOKEN, basic: undefined })
  t.same(presentedCredentials({}, '/x?access_token='), { bearer: undefined, basic: undefined })
  t.same(presentedCredentials({}, '/x?a=1'), { bearer: undefined, basic: undefined })
})

t.test('the subprotocol answered is never a token', async (t) => {
  t.equal(selectProtocol(new Set([`bearer.${TOKEN}`, 'chat'])), 'chat')
  t.equal(selectProtocol(new Set([`bearer.${TOKEN}`])), false)
})

t.test('authenticate checks tokens and bcrypt passwords, and takes only loaded credentials', async (t) => {
  const hash = bcrypt.hashSync('pw', 4)
  const spec = { realm: 'r', maxFailures: 10, failureWindowMs: 60_000, bearer: { tokensFile: 'x', tokensEnv: undefined }, basic: { usersFile: 'y' }, header: null, key: 'auth', at: { line: 1, column: 1 } }
  // A spec whose accounts were never read does not compile (npm test type-checks this line).
  // @ts-expect-error: credentials missing
  const unloaded = async (): Promise<unknown> => authenticate(spec, { bearer: TOKEN, basic: undefined })
  t.type(unloaded, 'function')
  const { tokenDigest } = await import('../../src/config/files.js')
  const loaded = { ...spec, credentials: { tokens: [{ name: 'a', digest: tokenDigest('other-token-xxxxxxxx') }, { name: 'ci', digest: tokenDigest(TOKEN) }], users: new Map([['al', hash]]), dummyHash: bcrypt.hashSync('x', 4) } }
  t.same(await authenticate(loaded, { bearer: TOKEN, basic: undefined }), { name: 'ci', type: 'Bearer' })
  t.equal(await authenticate(loaded, { bearer: 'wrong', basic: undefined }), undefined)
  t.same(await authenticate(loaded, { bearer: 'wrong', basic: { user: 'al', password: 'pw' } }), { name: 'al', type: 'Basic' })
  t.equal(await authenticate(loaded, { bearer: undefined, basic: { user: 'al', password: 'no' } }), undefined)
  t.equal(await authenticate(loaded, { bearer: undefined, basic: { user: 'bob', password: 'x' } }), undefined, 'unknown user')
  t.equal(await authenticate({ ...loaded, basic: null }, { bearer: undefined, basic: { user: 'al', password: 'pw' } }), undefined, 'basic not accepted')
  t.equal(await authenticate({ ...loaded, bearer: null }, { bearer: TOKEN, basic: undefined }), undefined, 'bearer not accepted')
  t.same(challenges(loaded), ['Bearer realm="r"', 'Basic realm="r", charset="UTF-8"'])
})

t.test('routes with auth answer 401 with WWW-Authenticate; the name reaches the program', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-auth-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'tokens'), `# CI robots\nci:${TOKEN}\n`)
  await writeFile(join(dir, 'users'), `alice:${bcrypt.hashSync('wonderland', 4).replace('$2b$', '$2y$')}\n`)
  const s = await startServer(t, `
auth:
  bearer: { tokensFile: ${q(join(dir, 'tokens'))} }
routes:
  /env:
    command: ${node('env.mjs')}
  /basic:
    command: ${node('env.mjs')}
    auth: { basic: { usersFile: ${q(join(dir, 'users'))} }, realm: shell }
  /env-token:
    command: ${node('env.mjs')}
    auth: { bearer: { tokensEnv: WSEXEC_TOKENS } }
    passHeaders: [Authorization]
  /public:
    command: [cat]
    auth: false
`, { PATH: process.env['PATH'], WSEXEC_TOKENS: `${TOKEN}-env other-token-0123456789` })
  t.equal(await upgradeStatus(`${s.url}/env`), 401, 'no credentials')
  t.equal(await upgradeStatus(`${s.url}/env`, { headers: { Authorization: 'Bearer nope' } }), 401, 'wrong token')
  t.equal(await upgradeStatus(`${s.url}/env?access_token=${TOKEN}x`), 401, 'almost the token')
  t.equal(await upgradeStatus(`${s.url}/basic`, { headers: { Authorization: basic('alice', 'wrong') } }), 401)
  t.equal(await upgradeStatus(`${s.url}/basic`, { headers: { Authorization: basic('mallory', 'wonderland') } }), 401)
  t.equal(await upgradeStatus(`${s.url}/basic`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 401, 'the server default is replaced')
  const res = await fetch(`http://127.0.0.1:${s.port}/basic`)
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), 'Basic realm="shell", charset="UTF-8"')
  t.match(await res.json(), { code: 'WSEXEC_ERR_UNAUTHORIZED', message: '/basic needs authentication' })
  t.equal((await fetch(`http://127.0.0.1:${s.port}/env`)).headers.get('www-authenticate'), 'Bearer realm="wsexec"')
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0, 'no process for refused requests')

  const envOf = async (path: string, options = {}): Promise<Record<string, string>> => {
    const c = connect(`${s.url}${path}`, options)
    const env = JSON.parse((await c.received(1))[0] as string) as Record<string, string>
    c.ws.close()
    await c.closed
    return env
  }
  t.match(await envOf('/env', { headers: { Authorization: `Bearer ${TOKEN}`, Cookie: 'sid=42' } }), { REMOTE_USER: 'ci', AUTH_TYPE: 'Bearer' })
  const ws = new WebSocket(`${s.url}/env`, [`bearer.${TOKEN}`, 'wsexec.v1'])
  const [data] = await new Promise<[Buffer]>((resolve) => ws.once('message', (d: Buffer) => resolve([d])))
  t.equal(ws.protocol, 'wsexec.v1', 'the answered subprotocol is never the token')
  const protoEnv = JSON.parse(data.toString()) as Record<string, string>
  ws.close()
  t.match(protoEnv, { REMOTE_USER: 'ci', AUTH_TYPE: 'Bearer', HTTP_SEC_WEBSOCKET_PROTOCOL: 'wsexec.v1' })
  const queryEnv = await envOf(`/env?x=1&access_token=${TOKEN}`)
  t.match(queryEnv, { REMOTE_USER: 'ci', QUERY_STRING: 'x=1', REQUEST_URI: '/env?x=1' })
  const basicEnv = await envOf('/basic', { headers: { Authorization: basic('alice', 'wonderland'), Cookie: 'sid=42' } })
  t.match(basicEnv, { REMOTE_USER: 'alice', AUTH_TYPE: 'Basic' })
  t.notOk('HTTP_AUTHORIZATION' in basicEnv || 'HTTP_COOKIE' in basicEnv, 'Authorization and Cookie are withheld')
  const passed = await envOf('/env-token', { headers: { Authorization: `Bearer ${TOKEN}-env` } })
  t.match(passed, { REMOTE_USER: '', AUTH_TYPE: 'Bearer', HTTP_AUTHORIZATION: `Bearer ${TOKEN}-env` }, 'unnamed token; passHeaders hands Authorization down')
  const everything = JSON.stringify(s.logs)
  t.notOk(everything.includes(TOKEN) || everything.includes('wonderland') || everything.includes(Buffer.from('alice:wonderland').toString('base64')), 'no secret in any log record')
  await stillServes(t, s, '/public')
})

/** A folder with a token file and an htpasswd file (bcrypt cost `cost`) for alice, removed after the test. */
async function accounts (t: Test, cost = 4): Promise<{ tokens: string, users: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-auth-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'tokens'), `ci:${TOKEN}\n`)
  await writeFile(join(dir, 'users'), `alice:${bcrypt.hashSync('wonderland', cost)}\n`)
  return { tokens: join(dir, 'tokens'), users: join(dir, 'users') }
}

t.test('failed authentications from one address are rate-limited with 429 and Retry-After', async (t) => {
  const { tokens, users } = await accounts(t)
  const s = await startServer(t, `
trustProxy: [127.0.0.1]
auth: { bearer: { tokensFile: ${q(tokens)} }, basic: { usersFile: ${q(users)} }, maxFailures: 2, failureWindow: 1m }
routes:
  /echo:
    command: [cat]
  /other:
    command: [cat]
    auth: { bearer: { tokensFile: ${q(tokens)} } }
`)
  const from = (address: string, authorization?: string): WebSocket.ClientOptions => ({ headers: { 'X-Forwarded-For': address, ...(authorization === undefined ? {} : { Authorization: authorization }) } })
  t.equal(await upgradeStatus(`${s.url}/echo`, from('10.0.0.1')), 401, 'no credentials: not a failure')
  t.equal(await upgradeStatus(`${s.url}/echo`, from('10.0.0.1')), 401)
  t.equal(await upgradeStatus(`${s.url}/echo`, from('10.0.0.1', basic('alice', 'guess1'))), 401)
  t.equal(await upgradeStatus(`${s.url}/echo`, from('10.0.0.1', 'Bearer guess-0123456789abcdef')), 401)
  const limited = await refusedUpgrade(`${s.url}/echo`, from('10.0.0.1', basic('alice', 'wonderland')))
  t.equal(limited.status, 429, 'even the right password waits: nothing is checked')
  t.match(JSON.parse(limited.body), { code: 'WSEXEC_ERR_TOO_MANY_AUTH_FAILURES' })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After within the window (${retryAfter})`)
  t.equal(await upgradeStatus(`${s.url}/echo`, from('10.0.0.2', basic('alice', 'wonderland'))), 101, 'another address is not affected')
  t.equal(await upgradeStatus(`${s.url}/other`, from('10.0.0.1', `Bearer ${TOKEN}`)), 101, 'nor another auth block')
  t.match(await s.app.wsexec.metrics.registry.getSingleMetricAsString('wsexec_requests_refused_total'), /reason="too_many_auth_failures"} 1/)
})

t.test('bcrypt runs off the event loop: the loop stays idle while passwords are checked', async (t) => {
  // Cost 12: each check is long enough that the loop's own work is small beside it.
  const { users } = await accounts(t, 12)
  const s = await startServer(t, `auth: { basic: { usersFile: ${q(users)} }, maxFailures: 0 }\nroutes:\n  /echo:\n    command: [cat]\n`)
  const before = performance.eventLoopUtilization()
  const statuses = await Promise.all(Array.from({ length: 4 }, async (_, i) => upgradeStatus(`${s.url}/echo`, { headers: { Authorization: basic('alice', `wrong-${i}`) } })))
  const loop = performance.eventLoopUtilization(before)
  t.same(statuses, [401, 401, 401, 401], 'maxFailures: 0 never limits')
  // bcryptjs on the main thread kept the loop busy all along (utilization close to 1).
  t.ok(loop.utilization < 0.5, `the event loop was mostly idle (${loop.utilization.toFixed(2)})`)
  t.equal(await upgradeStatus(`${s.url}/echo`, { headers: { Authorization: basic('alice', 'wonderland') } }), 101, 'the right password still opens')
})

t.test('a client that resets during the credential check leaves no session slot behind', async (t) => {
  const { users } = await accounts(t, 12)
  const env = { PATH: process.env['PATH'] }
  const config = await loadConfigText(`auth: { basic: { usersFile: ${q(users)} } }\nroutes:\n  /echo:\n    command: [cat]\n    maxSessions: 1\n`, {}, { source: 't.yaml', baseDir: '/', env })
  const app = await buildServer(config, { logger: pino({ level: 'silent' }), env })
  t.teardown(() => app.close())
  // Hooks of the test around the route's own check: when it starts, and when it is over.
  let checking: ((request: FastifyRequest) => void) | undefined
  let checked: (() => void) | undefined
  app.addHook('onRequest', async (request) => { checking?.(request) })
  app.addHook('preHandler', async () => { checked?.() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  let first: FastifyRequest | undefined
  let closedFirst: boolean | undefined
  const started = new Promise<void>((resolve) => { checking = (r) => { first ??= r; resolve() } })
  const over = new Promise<void>((resolve) => { checked = () => { closedFirst ??= first?.raw.socket.destroyed; resolve() } })
  const c = await rawConnect(port)
  c.socket.write(upgradeRequest('/echo', { Authorization: basic('alice', 'wonderland') }))
  await started
  const socket = (first as FastifyRequest).raw.socket
  // Not events.once: the server's socket emits ECONNRESET first, which would reject it.
  const serverSide = new Promise((resolve) => socket.once('close', resolve))
  c.socket.resetAndDestroy()
  await serverSide
  await over
  t.ok(closedFirst, 'the client was gone before the check ended')
  const next = connect(`ws://127.0.0.1:${port}/echo`, { headers: { Authorization: basic('alice', 'wonderland') } })
  await next.opened
  next.ws.send('the slot is free')
  t.same(await next.received(1), ['the slot is free'])
  next.ws.close()
  await next.closed
})

t.test('with top-level auth the server endpoints require it too; health and readiness stay open', async (t) => {
  const { tokens } = await accounts(t)
  const s = await startServer(t, `console: true
static: { dir: ${q(fixture('www'))}, prefix: /app }
auth: { bearer: { tokensFile: ${q(tokens)} } }
routes:
  /echo:
    command: [cat]
  /open:
    command: [cat]
    auth: false
`)
  const status = async (path: string, token?: string): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${s.port}${path}`, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  for (const path of ['/', '/asyncapi.json', '/_wsexec/client.js', '/app/index.html', '/metrics', '/nope']) {
    t.equal(await status(path), 401, `${path} without credentials`)
    t.equal(await status(path, 'wrong-token-0123456789'), 401, `${path} with a wrong token`)
  }
  for (const path of ['/', '/asyncapi.json', '/_wsexec/client.js', '/app/index.html', '/metrics']) t.equal(await status(path, TOKEN), 200, `${path} with the token`)
  t.equal(await status('/healthz'), 200)
  t.equal(await status('/readyz'), 200)
  t.equal(await status('/open'), 426, 'a route without auth stays open')
})

t.test('metrics on their own port need no credentials', async (t) => {
  const { tokens } = await accounts(t)
  const app = await buildServer(await loadConfigText(`metrics: { port: 0 }\nauth: { bearer: { tokensFile: ${q(tokens)} } }\nroutes:\n  /echo:\n    command: [cat]\n`, {}, { source: 't.yaml', baseDir: '/', env: {} }), { logger: pino({ level: 'silent' }) })
  const metrics = app.wsexec.metricsServer
  t.teardown(() => metrics?.close())
  await metrics?.listen({ host: '127.0.0.1', port: 0 })
  const res = await fetch(`http://127.0.0.1:${(metrics?.server.address() as { port: number }).port}/metrics`)
  t.equal(res.status, 200)
  t.match(await res.text(), /wsexec_sessions_active/)
})
