import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connect, upgradeStatus } from '../helpers/client.js'
import { fixture, startServer } from '../helpers/server.js'

const www = fixture('www')

/** A raw GET, so paths are sent exactly as written (fetch would normalise `..`). */
async function get (port: number, path: string, method = 'GET'): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('timed out')))
    req.end()
  })
}

t.test('without console or static: the client module and the AsyncAPI document only', async (t) => {
  const s = await startServer(t, '/echo:\n  command: [cat]\n')
  t.equal((await get(s.port, '/')).status, 404, 'no console at /')
  const client = await get(s.port, '/_wsexec/client.js')
  t.equal(client.status, 200)
  t.match(client.headers['content-type'], /^application\/javascript/)
  t.match(client.body, /export async function open/)
  const doc = await get(s.port, '/asyncapi.json?x=1')
  t.equal(doc.status, 200)
  t.match(JSON.parse(doc.body), { asyncapi: '3.1.0', servers: { wsexec: { host: `127.0.0.1:${s.port}`, protocol: 'ws' } }, channels: { echo: { address: '/echo' } } })
  t.equal((await get(s.port, '/_wsexec/nope.js')).status, 404)
  t.equal((await get(s.port, '/_wsexec/%E0%A4%A')).status, 400, 'bad percent-encoding')
  t.equal((await get(s.port, '/_wsexec/../package.json')).status, 403, 'no way out of the folder')
  t.equal((await get(s.port, '/_wsexec/%2e%2e/package.json')).status, 403)
  t.equal((await get(s.port, '/echo')).status, 426, 'routes keep their 426')
  t.equal(await upgradeStatus(`${s.url}/_wsexec/client.js`), 404, 'no upgrade to a file')
  t.equal(await upgradeStatus(`${s.url}/asyncapi.json`), 404)
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0, 'no process was started')
})

t.test('console: true serves the page at /, while a route at / still gets its upgrades', async (t) => {
  const s = await startServer(t, 'console: true\nroutes:\n  /:\n    command: [cat]\n')
  const page = await get(s.port, '/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'self'/)
  t.match(page.body, /<title>wsexec console<\/title>/)
  t.match(page.body, /src="_wsexec\/console\.js"/)
  t.equal((await get(s.port, '/', 'HEAD')).status, 200)
  t.equal((await get(s.port, '/_wsexec/console.js')).status, 200)
  t.equal((await get(s.port, '/_wsexec/console.css')).status, 200)
  const c = connect(`${s.url}/`)
  await c.opened
  c.ws.send('at the root')
  t.same(await c.received(1), ['at the root'])
  c.ws.close(1000)
  await c.closed
  t.equal((await get(s.port, '/other')).status, 404)
  t.equal(await upgradeStatus(`${s.url}/other`), 404)
})

t.test('static files at /: routes win, unknown files are 404, upgrades never reach a file', async (t) => {
  const s = await startServer(t, `static: { dir: ${JSON.stringify(www)} }\nroutes:\n  /echo:\n    command: [cat]\n`)
  const index = await get(s.port, '/')
  t.equal(index.status, 200, 'index.html at /')
  t.match(index.body, /fixture front end/)
  t.equal((await get(s.port, '/index.html')).status, 200)
  t.equal((await get(s.port, '/sub/a%20b.txt')).body, 'nested\n', 'percent-decoded')
  t.equal((await get(s.port, '/echo')).status, 426, 'a route beats a file of the same name')
  t.equal((await get(s.port, '/nope.html')).status, 404)
  t.equal((await get(s.port, '/sub/../../package.json')).status, 403)
  t.equal(await upgradeStatus(`${s.url}/index.html`), 404)
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0)
})

t.test('static files stay inside static.dir: no dotfiles, no symlink that leads outside', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'wsexec-static-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dir = join(base, 'www')
  const outside = join(base, 'secret')
  await mkdir(join(dir, '.git'), { recursive: true })
  await mkdir(join(dir, 'sub'))
  await mkdir(outside)
  await writeFile(join(outside, 'key.txt'), 'secret\n')
  await writeFile(join(outside, 'index.html'), 'secret index\n')
  await writeFile(join(dir, 'page.html'), 'page\n')
  await writeFile(join(dir, '.env'), 'TOKEN=secret\n')
  await writeFile(join(dir, '.git', 'config'), 'secret\n')
  await symlink(join(outside, 'key.txt'), join(dir, 'leak.txt'))
  await symlink(outside, join(dir, 'out'))
  await symlink(join(outside, 'index.html'), join(dir, 'sub', 'index.html'))
  await symlink(join(dir, 'page.html'), join(dir, 'alias.html'))
  const s = await startServer(t, `static: { dir: ${JSON.stringify(dir)}, prefix: /app }\nroutes:\n  /echo:\n    command: [cat]\n`)
  t.equal((await get(s.port, '/app/page.html')).body, 'page\n')
  t.equal((await get(s.port, '/app/alias.html')).body, 'page\n', 'a symlink that stays inside is followed')
  for (const path of ['/app/.env', '/app/.git/config', '/app/%2eenv', '/app/leak.txt', '/app/out/key.txt', '/app/out/', '/app/sub/']) {
    const r = await get(s.port, path)
    t.equal(r.status, 404, path)
    t.notMatch(r.body, /secret/, `${path} shows nothing of it`)
  }
  t.equal((await get(s.port, '/app/out')).status, 404, 'a folder symlink is not even redirected')
})

t.test('static files under a prefix, next to the console', async (t) => {
  const s = await startServer(t, `console: true\nstatic: { dir: ${JSON.stringify(www)}, prefix: /app }\nroutes:\n  /app/echo:\n    command: [cat]\n`)
  t.match((await get(s.port, '/')).body, /wsexec console/, 'the console keeps /')
  const redirect = await get(s.port, '/app?a=1')
  t.equal(redirect.status, 301)
  t.equal(redirect.headers.location, '/app/?a=1')
  t.equal((await get(s.port, '/app')).headers.location, '/app/')
  t.match((await get(s.port, '/app/')).body, /fixture front end/)
  t.equal((await get(s.port, '/app/sub/a%20b.txt')).status, 200)
  t.equal((await get(s.port, '/app/echo')).status, 426)
  t.equal((await get(s.port, '/index.html')).status, 404, 'outside the prefix')
  t.equal((await get(s.port, '/apple')).status, 404)
})
