// The installed command is the bundle `npm run build` makes (scripts/bundle.mjs): these tests run
// dist/bin.js itself, as `wsexec`, the container and the benchmark do.
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { CloseCode } from '../src/close-codes.js'
import { VERSION } from '../src/version.js'
import { connect, DEADLINE_MS } from './helpers/client.js'
import { root } from './helpers/cli.js'
import { START_DEADLINE_MS } from './helpers/served.js'

const run = promisify(execFile)
const BIN = join(root, 'dist/bin.js')

t.test('dist/bin.js is one bundle, not tsc\'s entry that imports the modules one by one', async (t) => {
  const text = await readFile(BIN, 'utf8')
  t.match(text, /^#!\/usr\/bin\/env node\n/, 'still runs as a command')
  t.notMatch(text, /from ["']\.\/cli\/main\.js["']/)
  const { stdout } = await run(process.execPath, [BIN, '--version'])
  t.equal(stdout, `wsexec ${VERSION}\n`, 'package.json is found from the bundle')
  const license = await run(process.execPath, [BIN, '--license'])
  t.equal(license.stdout, await readFile(join(root, 'LICENSE'), 'utf8'), 'and the LICENSE')
})

t.test('an invalid file is described from the bundle (ajv is loaded for it)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-bundle-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'routes.yaml'), 'routes:\n  /a:\n    comand: [cat]\n')
  const failed = await run(process.execPath, [BIN, '--check', '-c', 'routes.yaml'], { cwd: dir }).catch((err: { code: number, stderr: string }) => err)
  t.equal(failed.code, 2)
  t.match(failed.stderr, /routes\.yaml:3:5: routes\./)
  t.match(failed.stderr, /did you mean command\?/)
})

t.test('the bundle serves the bundled config: prebuilt validator, no ajv or pino-pretty, sessions and browser files work', async (t) => {
  const child = spawn(process.execPath, [BIN, '-c', join(root, 'config/routes.yaml'), '--port', '0', '--log-level', 'info'], {
    cwd: root,
    // Node's CommonJS loader names every file it loads on stderr: what the bundle left outside shows there.
    env: { ...process.env, NODE_DEBUG: 'module' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in ${out}`)), START_DEADLINE_MS)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /route (ws:\/\/[0-9.:]+)\/raw/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1] as string) }
    })
  })
  const loadedAtStart = err
  t.match(loadedAtStart, /load "[^"]*\/dist\/config\/schema-validator\.cjs"/, 'the validator compiled at build time')
  t.notMatch(loadedAtStart, /looking for "ajv"/, 'not ajv\'s compiler')
  t.notMatch(loadedAtStart, /looking for "pino-pretty"/, 'no pretty printer for JSON logs')
  t.notMatch(loadedAtStart, /looking for "@fastify\/ajv-compiler"/, 'no schema compiler for routes without schemas')

  const echo = connect(`${url}/echo`)
  await echo.opened
  echo.ws.send('hello')
  t.same(await echo.received(1), ['hello'])
  echo.ws.close()
  await echo.closed
  const count = connect(`${url}/count/3`)
  t.same(await count.received(3), ['1', '2', '3'])
  t.equal((await count.closed).code, CloseCode.NORMAL, 'exit 0')
  const client = await fetch(`${url.replace('ws', 'http')}/_wsexec/client.js`)
  t.equal(client.status, 200, 'wsexec\'s browser files are found from the bundle')
  t.match(await client.text(), /wsexec browser client/)

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [number]
  t.equal(code, 0)
  t.match(out, /"msg":"stopped"/)
})
