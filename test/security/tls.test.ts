import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import WebSocket from 'ws'
import { loadConfigText } from '../../src/config/pipeline.js'
import { transportOptions } from '../../src/security/tls.js'
import { connect, refusedUpgrade } from '../helpers/client.js'
import { node, q, startedSessions, startServer } from '../helpers/server.js'

const run = promisify(execFile)

/** A CA, a server certificate for 127.0.0.1 and a client certificate for CN=alice, made with openssl in `dir`. */
async function certificates (dir: string): Promise<Record<'ca' | 'cert' | 'key' | 'clientCert' | 'clientKey', string>> {
  const f = (name: string): string => join(dir, name)
  const openssl = async (...args: string[]): Promise<void> => { await run('openssl', args, { cwd: dir }) }
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=wsexec test CA')
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n')
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1')
  await openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.ext'))
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=alice')
  await openssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '1')
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') }
}

const dir = await mkdtemp(join(tmpdir(), 'wsexec-tls-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const pem = await certificates(dir)

async function envOver (url: string, options: WebSocket.ClientOptions): Promise<Record<string, string>> {
  const c = connect(url, options)
  const env = JSON.parse((await c.received(1))[0] as string) as Record<string, string>
  c.ws.close()
  await c.closed
  return env
}

t.test('tls serves wss; HTTPS=on reaches the program', async (t) => {
  const s = await startServer(t, `tls: { cert: ${q(pem.cert)}, key: ${q(pem.key)} }\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  t.match(s.url, /^wss:/)
  const env = await envOver(`${s.url}/env`, { ca: await readFile(pem.ca) })
  t.match(env, { HTTPS: 'on', REMOTE_USER: '', AUTH_TYPE: '' })
  const ca = await readFile(pem.ca)
  const res = await new Promise<number>((resolve, reject) => {
    get(`https://127.0.0.1:${s.port}/env`, { ca }, (r) => { r.resume(); resolve(r.statusCode as number) }).on('error', reject)
  })
  t.equal(res, 426, 'plain https GET')
})

t.test('with ca, a client certificate is required and its CN becomes REMOTE_USER', async (t) => {
  const s = await startServer(t, `tls: { cert: ${q(pem.cert)}, key: ${q(pem.key)}, ca: ${q(pem.ca)} }\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  const ca = await readFile(pem.ca)
  const env = await envOver(`${s.url}/env`, { ca, cert: await readFile(pem.clientCert), key: await readFile(pem.clientKey) })
  t.match(env, { HTTPS: 'on', REMOTE_USER: 'alice', AUTH_TYPE: 'Certificate' })
  const anonymous = new WebSocket(`${s.url}/env`, { ca })
  const err = await new Promise<Error>((resolve) => anonymous.once('error', resolve))
  t.ok(err instanceof Error, `no certificate, no connection (${err.message})`)
  t.equal(await startedSessions(s, 1), 1)
})

t.test('a client certificate without exactly one CN completes the handshake but gets 401', async (t) => {
  const f = (name: string): string => join(dir, name)
  const openssl = async (...args: string[]): Promise<void> => { await run('openssl', args, { cwd: dir }) }
  const client = async (name: string, subject: string): Promise<{ cert: Buffer, key: Buffer }> => {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject)
    await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', pem.ca, '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '1')
    return { cert: await readFile(f(`${name}.pem`)), key: await readFile(f(`${name}.key`)) }
  }
  const s = await startServer(t, `console: true\ntls: { cert: ${q(pem.cert)}, key: ${q(pem.key)}, ca: ${q(pem.ca)} }\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  const ca = await readFile(pem.ca)
  for (const [name, subject] of [['nocn', '/O=acme'], ['twocn', '/CN=alice/CN=root']] as const) {
    const credentials = { ca, ...(await client(name, subject)) }
    const refused = await refusedUpgrade(`${s.url}/env`, credentials)
    t.equal(refused.status, 401, `${subject}: the route`)
    t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_BAD_CLIENT_CERTIFICATE' })
    const page = await new Promise<number>((resolve, reject) => {
      get(`https://127.0.0.1:${s.port}/`, credentials, (r) => { r.resume(); resolve(r.statusCode as number) }).on('error', reject)
    })
    t.equal(page, 401, `${subject}: the console`)
  }
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0, 'no program started')
})

t.test('the transport options carry the TLS material the configuration loaded', async (t) => {
  const config = await loadConfigText(`tls: { cert: ${q(pem.cert)}, key: ${q(pem.key)} }\nroutes:\n  /a:\n    command: [cat]\n`, {}, { source: 'c.yaml', baseDir: '/' })
  t.same(transportOptions(config.security).https?.cert, await readFile(pem.cert), 'the certificate read by loadConfig')
  const plain = transportOptions({ ...config.security, tls: null, handshakeTimeoutMs: 0, trustProxy: ['10.0.0.0/8'] })
  t.same(plain, { http: { maxHeaderSize: 16384 }, requestTimeout: 0, keepAliveTimeout: 5000, trustProxy: ['10.0.0.0/8'] }, 'handshakeTimeout 0: Node defaults')
  const defaults = transportOptions({ ...config.security, tls: null })
  t.match(defaults, { http: { headersTimeout: 5000, connectionsCheckingInterval: 1000 }, requestTimeout: 5000, trustProxy: false }, 'by default a slow client is dropped within 6 s')
})

t.test('a reload reads the certificate files again: a renewed certificate needs no restart', async (t) => {
  // A second CA and server certificate, for the renewal.
  const renewedDir = join(dir, 'renewed')
  await mkdir(renewedDir)
  const renewed = await certificates(renewedDir)
  const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') }
  await copyFile(pem.cert, live.cert)
  await copyFile(pem.key, live.key)
  const yaml = `tls: { cert: ${q(live.cert)}, key: ${q(live.key)} }\nroutes:\n  /env:\n    command: ${node('env.mjs')}\n`
  const s = await startServer(t, yaml)
  const reload = async (text: string): Promise<void> => {
    const env = { PATH: process.env['PATH'] }
    s.app.wsexec.reload(await loadConfigText(text, {}, { source: 'next.yaml', baseDir: '/', env }))
  }
  const oldCa = await readFile(pem.ca)
  const newCa = await readFile(renewed.ca)
  t.match(await envOver(`${s.url}/env`, { ca: oldCa }), { HTTPS: 'on' })

  await reload(yaml)
  t.notOk(s.logs.some((r) => r.msg === 'TLS certificate reloaded'), 'the same files: nothing to apply')

  await copyFile(renewed.cert, live.cert)
  await copyFile(renewed.key, live.key)
  await reload(yaml)
  t.match(s.logs.find((r) => r.msg === 'TLS certificate reloaded'), { level: 30, cert: live.cert })
  t.notOk(s.logs.some((r) => r.msg === 'restart to apply these settings'))
  t.match(await envOver(`${s.url}/env`, { ca: newCa }), { HTTPS: 'on' }, 'new handshakes get the renewed certificate')
  const stale = new WebSocket(`${s.url}/env`, { ca: oldCa })
  const err = await new Promise<Error>((resolve) => stale.once('error', resolve))
  t.match(err.message, /certificate/, 'a client that trusts only the old CA no longer connects')

  await reload(`routes:\n  /env:\n    command: ${node('env.mjs')}\n`)
  t.match(s.logs.find((r) => r.msg === 'restart to apply these settings'), { level: 40 })
  t.same(s.logs.find((r) => r.msg === 'restart to apply these settings')?.['keys'], ['tls'])
  t.match(await envOver(`${s.url}/env`, { ca: newCa }), { HTTPS: 'on' }, 'turning TLS off waits for a restart')
})

t.test('a reload that drops the CA keeps asking for client certificates, with the same CA, until a restart', async (t) => {
  const routes = `routes:\n  /env:\n    command: ${node('env.mjs')}\n`
  const s = await startServer(t, `tls: { cert: ${q(pem.cert)}, key: ${q(pem.key)}, ca: ${q(pem.ca)} }\n${routes}`)
  const env = { PATH: process.env['PATH'] }
  s.app.wsexec.reload(await loadConfigText(`tls: { cert: ${q(pem.cert)}, key: ${q(pem.key)} }\n${routes}`, {}, { source: 'next.yaml', baseDir: '/', env }))
  t.same(s.logs.find((r) => r.msg === 'restart to apply these settings')?.['keys'], ['tls'])
  t.notOk(s.logs.some((r) => r.msg === 'TLS certificate reloaded'))
  const ca = await readFile(pem.ca)
  t.match(await envOver(`${s.url}/env`, { ca, cert: await readFile(pem.clientCert), key: await readFile(pem.clientKey) }), { REMOTE_USER: 'alice' }, 'a client certificate is still accepted')
})
