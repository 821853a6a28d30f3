import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'
import { runCli } from '../helpers/cli.js'

const run = runCli

t.test('console and static: off by default, normalised, relative to the file', async (t) => {
  const plain = parseConfig('routes:\n  /a:\n    command: [cat]\n', 'x.yaml', '/srv/app')
  t.equal(plain.console, false)
  t.equal(plain.static, undefined)
  const config = parseConfig('console: true\nstatic:\n  dir: www\nroutes:\n  /a:\n    command: [cat]\n', 'x.yaml', '/srv/app')
  t.equal(config.console, true)
  t.same(config.static, { dir: '/srv/app/www', prefix: '/', dirAt: { line: 3, column: 8 } })
  t.ok(Object.isFrozen(config.static))
  const prefixed = parseConfig('static: { dir: /var/www, prefix: /app }\nroutes:\n  /a:\n    command: [cat]\n', 'x.yaml', '/srv/app')
  t.same(prefixed.static, { dir: '/var/www', prefix: '/app/', dirAt: { line: 1, column: 16 } }, 'the prefix ends with /')
  t.equal(parseConfig('static: { dir: w, prefix: /app/ }\nroutes:\n  /a:\n    command: [cat]\n', 'x.yaml', '/').static?.prefix, '/app/')
})

t.test('console and static: schema errors have places', async (t) => {
  const problems = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'x.yaml', '/')
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.line}:${p.column}: ${p.key}: ${p.message}`)
    }
    return []
  }
  t.same(problems('console: yes please\nstatic: { prefix: app, index: x }\nroutes:\n  /a:\n    command: [cat]\n'), [
    '1:10: console: must be true or false',
    '2:9: static.dir: is required',
    '2:19: static.prefix: must match ^/',
    '2:24: static.index: unknown key'
  ])
})

t.test('static.dir must be a folder, checked at start-up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-static-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'static:\n  dir: nowhere\nroutes:\n  /a:\n    command: [cat]\n')
  const r = await run(['--check', '-c', file])
  t.equal(r.code, 2)
  t.equal(r.stderr, `wsexec: Invalid configuration:\n${file}:2:8: static.dir: ${join(dir, 'nowhere')} is not a folder\n`)
  await mkdir(join(dir, 'nowhere'))
  t.equal((await run(['--check', '-c', file])).code, 0)
})

t.test('--asyncapi prints the document of the loaded configuration; --console is accepted', async (t) => {
  const r = await run(['--asyncapi', '--console'])
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout) as { asyncapi: string, servers: { wsexec: { host: string, protocol: string } }, channels: Record<string, { address: string }> }
  t.equal(doc.asyncapi, '3.1.0')
  t.same(doc.servers.wsexec, { host: '127.0.0.1:8080', protocol: 'ws', description: 'this wsexec server' })
  t.equal(doc.channels['count_n']?.address, '/count/{n}')
  const oneLiner = await run(['--asyncapi', '--port', '9000', '--', 'cat'])
  t.equal(JSON.parse(oneLiner.stdout).channels.root.address, '/')
  t.match((await run(['--help'])).stdout, /--console .*\n.*--asyncapi/)
})
