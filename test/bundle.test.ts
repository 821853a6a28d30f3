// The installed command is the bundle `npm run build` makes (scripts/bundle.mjs): these tests run
// dist/bin.js itself, as `wsexec`, the container and the benchmark do.
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'
import t, { type Test } from 'tap'
import { CloseCode } from '../src/close-codes.js'
import { VERSION } from '../src/version.js'
import { connect, DEADLINE_MS, upgradeStatus } from './helpers/client.js'
import { root } from './helpers/cli.js'
import { q } from './helpers/server.js'
import { START_DEADLINE_MS } from './helpers/served.js'

const run = promisify(execFile)
const BIN = join(root, 'dist/bin.js')

interface Started {
  /** ws://host:port of the server. */
  readonly url: string
  /** What Node's CommonJS loader reported loading until the routes were announced. */
  readonly loadedAtStart: string
  /** Sends SIGTERM; resolves to the exit code, with everything written to stdout. */
  stop: () => Promise<{ code: number, out: string }>
}

/**
 * Starts dist/bin.js with `args` on port 0, with NODE_DEBUG=module (Node's CommonJS loader then names
 * every file it loads on stderr: what the bundle left outside shows there). Resolves once `lastRoute` is announced.
 */
async function startBundle (t: Test, args: string[], lastRoute: string): Promise<Started> {
  const child = spawn(process.execPath, [BIN, ...args, '--port', '0', '--log-level', 'info'], {
    cwd: root,
    env: { ...process.env, NODE_DEBUG: 'module' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no route ${lastRoute} in ${out}`)), START_DEADLINE_MS)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = new RegExp(`"msg":"route (ws://[0-9.:]+)${lastRoute} `).exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
    })
  })
  return {
    url,
    loadedAtStart: err,
    async stop () {
      child.kill('SIGTERM')
      const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number]
      return { code, out }
    }
  }
}

t.test('dist/bin.js is one bundle, not tsc\'s entry that imports the modules one by one', async (t) => {
  const text = await readFile(BIN, 'utf8')
  t.match(text, /^#!\/usr\/bin\/env node\n/, 'still runs as a command')
  t.notMatch(text, /from ["']\.\/cli\/main\.js["']/)
  const { stdout } = await run(process.execPath, [BIN, '--version'])
  t.equal(stdout, `wsexec ${VERSION}\n`, 'package.json is found from the bundle')
  const license = await run(process.execPath, [BIN, '--license'])
  t.equal(license.stdout, await readFile(join(root, 'LICENSE'), 'utf8'), 'and the LICENSE')
  const printed = await run(process.execPath, [BIN, '--print-config', '--port', '9000', '--', 'cat'])
  t.match(printed.stdout, /^routes:\n {2}\/:\n {4}command:\n {6}- cat\n/m, '--print-config writes YAML')
})

t.test('an invalid file is described from the bundle (ajv is loaded for it)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-bundle-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'routes.yaml'), 'routes:\n  /a:\n    comand: [cat]\n')
  const failed = await run(process.execPath, [BIN, '--check', '-c', 'routes.yaml'], { cwd: dir }).then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => err)
  t.equal(failed.code, 2)
  t.match(failed.stderr, /routes\.yaml:3:5: routes\./)
  t.match(failed.stderr, /did you mean command\?/)
})

t.test('the bundle serves the bundled config: prebuilt validator, no ajv or pino-pretty, sessions and browser files work', async (t) => {
  const s = await startBundle(t, ['-c', join(root, 'config/routes.yaml')], '/raw')
  t.match(s.loadedAtStart, /load "[^"]*\/dist\/config\/schema-validator\.cjs"/, 'the validator compiled at build time')
  t.notMatch(s.loadedAtStart, /looking for "ajv"/, 'not ajv\'s compiler')
  t.notMatch(s.loadedAtStart, /looking for "pino-pretty"/, 'no pretty printer for JSON logs')
  t.notMatch(s.loadedAtStart, /looking for "@fastify\/ajv-compiler"/, 'no schema compiler for routes without schemas')

  const echo = connect(`${s.url}/echo`)
  await echo.opened
  echo.ws.send('hello')
  t.same(await echo.received(1), ['hello'])
  echo.ws.close()
  await echo.closed
  const count = connect(`${s.url}/count/3`)
  t.same(await count.received(3), ['1', '2', '3'])
  t.equal((await count.closed).code, CloseCode.NORMAL, 'exit 0')
  const client = await fetch(`${s.url.replace('ws', 'http')}/_wsexec/client.js`)
  t.equal(client.status, 200, 'wsexec\'s browser files are found from the bundle')
  t.match(await client.text(), /wsexec browser client/)

  const { code, out } = await s.stop()
  t.equal(code, 0)
  t.match(out, /"msg":"stopped"/)
})

t.test('basic auth from the bundle: the bcrypt worker and the failure limiter load on demand', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-bundle-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'users'), `alice:${bcrypt.hashSync('wonderland', 4)}\n`)
  await writeFile(join(dir, 'routes.yaml'), `auth: { basic: { usersFile: ${q(join(dir, 'users'))} }, maxFailures: 1, failureWindow: 1m }
routes:
  /echo:
    command: [cat]
`)
  const s = await startBundle(t, ['-c', join(dir, 'routes.yaml')], '/echo')
  const basic = (password: string): { headers: Record<string, string> } => ({ headers: { Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` } })
  const echo = connect(`${s.url}/echo`, basic('wonderland'))
  await echo.opened
  echo.ws.send('in')
  t.same(await echo.received(1), ['in'], 'the right password is checked by the worker')
  echo.ws.close()
  await echo.closed
  t.equal(await upgradeStatus(`${s.url}/echo`, basic('wrong')), 401, 'a wrong one is refused')
  t.equal(await upgradeStatus(`${s.url}/echo`, basic('wonderland')), 429, 'then the address is limited')
  t.equal((await s.stop()).code, 0)
})
