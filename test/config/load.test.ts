import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFile, parseConfig } from '../../src/config/load.js'
import { closest } from '../../src/config/suggest.js'
import { quickValidator, standaloneValidatorSource, STANDALONE_FILE } from '../../src/config/validate.js'
import { ConfigError, formatProblem } from '../../src/errors.js'
import { root } from '../helpers/cli.js'

function problems (yaml: string): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', '/srv/app')
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1)
    throw err
  }
  throw new Error('the configuration was accepted')
}

t.test('the issue example is valid and normalised with defaults', async (t) => {
  const config = parseConfig(`
listen: { host: 0.0.0.0, port: 8080 }
routes:
  /echo:
    command: [cat]
  /count/:n:
    command: [seq, "1", "{n}"]
    params: { n: "^[0-9]{1,6}$" }
  /bc:
    command: [bc, -q]
    mode: text
    stderr: log
    env: { BC_LINE_LENGTH: "0" }
    passEnv: [PATH, HOME]
    cwd: /tmp
    maxLineBytes: 1048576
    closeGrace: 1s
    killGrace: 2s
`, 'routes.yaml', '/srv/app')
  t.same(config.listen, { host: '0.0.0.0', port: 8080 })
  t.equal(config.routes.length, 3)
  const [echo, count, bc] = config.routes
  t.match(echo, { path: '/echo', command: ['cat'], mode: 'text', stderr: 'log', passEnv: ['PATH', 'LD_LIBRARY_PATH'], maxLineBytes: 1048576, closeGraceMs: 1000, killGraceMs: 2000, cwd: undefined, executable: 'cat' })
  t.same(echo?.commandAt, { line: 5, column: 15 })
  t.same(count?.params, { n: '^[0-9]{1,6}$' })
  t.match(bc, { env: { BC_LINE_LENGTH: '0' }, passEnv: ['PATH', 'HOME'], cwd: '/tmp' })
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.routes) && Object.isFrozen(bc) && Object.isFrozen(bc?.env), 'frozen')
})

t.test('defaults for listen and relative cwd', async (t) => {
  const config = parseConfig('routes:\n  /a:\n    command: [cat]\n    cwd: data\n    closeGrace: 250\n', 'x.yaml', '/srv/app')
  t.same(config.listen, { host: '127.0.0.1', port: 8080 })
  t.equal(config.routes[0]?.cwd, '/srv/app/data')
  t.equal(config.routes[0]?.closeGraceMs, 250)
})

t.test('schema errors name file, line, column and key path', async (t) => {
  t.same(problems('routes:\n  /bc:\n    command: [bc, -q]\n    mode: txt\n'), ['routes.yaml:4:11: routes./bc.mode: must be one of text, binary'])
  t.same(problems(`listen: { host: 0.0.0.0, port: 99999, tls: 1 }
routes:
  /a/:n:
    command: [seq, 5]
    params: { n: "[0-9]+" }
    closeGrace: 1x
    bogus: 1
  nope:
    command: []
  /b:
    env: { 1A: x }
`), [
    'routes.yaml:1:32: listen.port: must be at most 65535',
    'routes.yaml:1:39: listen.tls: unknown key',
    'routes.yaml:4:20: routes./a/:n.command.1: must be a string',
    'routes.yaml:6:17: routes./a/:n.closeGrace: must be a duration such as 500ms, 1s, 5m, or a number of milliseconds',
    'routes.yaml:7:5: routes./a/:n.bogus: unknown key',
    'routes.yaml:8:3: routes.nope: key must match ^/ (a route path starts with /)',
    'routes.yaml:11:5: routes./b.command: is required',
    'routes.yaml:11:12: routes./b.env.1A: key must match ^[A-Za-z_][A-Za-z0-9_]*$'
  ])
  t.same(problems('listen: {}\n'), ['routes.yaml:1:1: routes: is required'])
  t.same(problems('routes: {}\n'), ['routes.yaml:1:9: routes: needs at least one route'])
  t.same(problems('routes:\n  /a:\n    command: [x]\n    mode: binary\n    stderr: tagged\n    maxLineBytes: 0\n'), [
    'routes.yaml:5:13: routes./a.stderr: tagged needs mode: text',
    'routes.yaml:6:19: routes./a.maxLineBytes: must be at least 4'
  ])
  t.same(problems('routes:\n  /a:\n    command: [x]\n    maxLineBytes: 3\n'), [
    'routes.yaml:4:19: routes./a.maxLineBytes: must be at least 4'
  ], 'a smaller split could cut a UTF-8 character')
  t.same(problems('routes:\n  /a:\n    command: [x]\n    passEnv: ["A-B"]\n'), ['routes.yaml:4:15: routes./a.passEnv.0: must match ^[A-Za-z_][A-Za-z0-9_]*$'])
})

t.test('route rules beyond the schema', async (t) => {
  t.same(problems(`routes:
  /a/:n/:m:
    command: ["{n}", x]
    params: { n: "[", x: "a" }
  /b//c/:x/:x/:9:
    command: [cat]
    params: { x: a }
  /t:
    command: [cat]
    mode: binary
    stderr: tagged
`), [
    'routes.yaml:3:15: routes./a/:n/:m.command.0: the program itself cannot come from a path parameter',
    'routes.yaml:4:13: routes./a/:n/:m.params: path parameter :m needs a pattern in params',
    'routes.yaml:4:18: routes./a/:n/:m.params.n: invalid regular expression: Invalid regular expression: /[/: Unterminated character class',
    'routes.yaml:4:23: routes./a/:n/:m.params.x: is not a parameter of the path /a/:n/:m',
    'routes.yaml:5:3: routes./b//c/:x/:x/:9: a route path has no empty segments (no // and no trailing /)',
    'routes.yaml:5:3: routes./b//c/:x/:x/:9: parameter :x appears twice',
    'routes.yaml:5:3: routes./b//c/:x/:x/:9: :9 is not a valid parameter (use :name with letters, digits and _)',
    'routes.yaml:11:13: routes./t.stderr: tagged needs mode: text'
  ])
  t.same(problems('routes:\n  /a/:\n    command: [cat]\n'), ['routes.yaml:2:3: routes./a/: a route path has no empty segments (no // and no trailing /)'])
  t.same(problems('routes:\n  /t:\n    command: [cat]\n    tty: true\n    stderr: tagged\n'), ['routes.yaml:5:13: routes./t.stderr: a terminal merges stderr into its output: tagged needs tty: false'])
})

t.test('every problem in one run: schema, route rules and programs; did you mean; {placeholders}', async (t) => {
  const text = `listen: { prot: 80 }
routes:
  /a/:n:
    command: [seq, "{m}"]
    params: { n: "[0-9]+" }
    comand: [x]
  /b:
    command: [no-such-program-anywhere, "{x}"]
  /c:
    command: [cat, "{print}"]
    mode: txt
  /d:
    command: [cat]
    params: {}
    minItems: 1
  /e:
    command: []
  /f:
    command: [cat]
    pathInfo: true
    envv: {}
  /g/:id:
    command: [cat]
    params: { id: "[a-z]+" }
    pathInfo: true
  /h:
    command: [./missing.sh]
    cwd: nowhere
`
  const problems = (env?: Record<string, string>): string[] => {
    try {
      parseConfig(text, 'r.yaml', '/tmp', env === undefined ? {} : { env })
      return []
    } catch (err) {
      return (err as ConfigError).problems.map(formatProblem)
    }
  }
  t.same(problems({ PATH: '/usr/bin:/bin' }), [
    'r.yaml:1:11: listen.prot: unknown key: did you mean port?',
    'r.yaml:4:20: routes./a/:n.command.1: {m} names no parameter of the path (parameters: {n}); did you mean {n}?',
    'r.yaml:6:5: routes./a/:n.comand: unknown key: did you mean command?',
    'r.yaml:8:15: routes./b.command.0: program "no-such-program-anywhere" not found in PATH /usr/bin:/bin',
    'r.yaml:8:41: routes./b.command.1: {x} names no parameter of the path (the path /b has no parameters)',
    'r.yaml:10:20: routes./c.command.1: {print} names no parameter of the path (the path /c has no parameters)',
    'r.yaml:11:11: routes./c.mode: must be one of text, binary',
    'r.yaml:15:5: routes./d.minItems: unknown key',
    'r.yaml:17:14: routes./e.command: must not be empty',
    'r.yaml:21:5: routes./f.envv: unknown key: did you mean env?',
    'r.yaml:25:15: routes./g/:id.pathInfo: pathInfo needs a path without parameters',
    'r.yaml:28:10: routes./h.cwd: /tmp/nowhere is not a folder'
  ])
  const problems2 = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'r.yaml', '/tmp')
      return []
    } catch (err) {
      return (err as ConfigError).problems.map(formatProblem)
    }
  }
  t.notOk(problems().some((p) => p.includes('no-such-program')), 'programs are checked only when the environment is given')
  t.notMatch(problems().join('\n'), /must NOT|must be object|must be >=|must be <=/, 'no raw ajv wording')
  t.same(problems2('auth: {}\nroutes:\n  /a:\n    command: [cat]\n    cwd: ""\n'), ['r.yaml:1:7: auth: must be an object with bearer, basic and/or header, or false', 'r.yaml:5:10: routes./a.cwd: must not be empty'])
  // Mistakes spread over one route: each is reported, whatever else is wrong with it.
  t.same(problems2(`health: { live: 5 }
routes:
  /healthz:
    command: [cat]
  /:
    command: [cat, "{all}"]
  /x/:id/:id/:Bad-:
    command: [cat, "{idd}", "{other}"]
    params: { id: "(", extra: "[a-z]+" }
    mode: txt
    maxLineBytes: -1
    stderr: tagged
    tty: true
    origins: ["not an origin"]
    typo: 1
  /y/:n:
    command: 5
    params: { n: "[0-9]+" }
    pathInfo: true
  /z:
    command: ["{prog}"]
  "no-slash":
    command: [cat]
  /w: 7
`), [
    'r.yaml:1:17: health.live: must be a string',
    'r.yaml:6:20: routes./.command.1: {all} names no parameter of the path (the path / has no parameters)',
    'r.yaml:7:3: routes./x/:id/:id/:Bad-: parameter :id appears twice',
    'r.yaml:7:3: routes./x/:id/:id/:Bad-: :Bad- is not a valid parameter (use :name with letters, digits and _)',
    'r.yaml:8:20: routes./x/:id/:id/:Bad-.command.1: {idd} names no parameter of the path (parameters: {id}); did you mean {id}?',
    'r.yaml:8:29: routes./x/:id/:id/:Bad-.command.2: {other} names no parameter of the path (parameters: {id})',
    'r.yaml:9:19: routes./x/:id/:id/:Bad-.params.id: invalid regular expression: Invalid regular expression: /(/: Unterminated group',
    'r.yaml:9:24: routes./x/:id/:id/:Bad-.params.extra: is not a parameter of the path /x/:id/:id/:Bad-',
    'r.yaml:10:11: routes./x/:id/:id/:Bad-.mode: must be one of text, binary',
    'r.yaml:11:19: routes./x/:id/:id/:Bad-.maxLineBytes: must be at least 4',
    'r.yaml:12:13: routes./x/:id/:id/:Bad-.stderr: a terminal merges stderr into its output: tagged needs tty: false',
    'r.yaml:14:15: routes./x/:id/:id/:Bad-.origins.0: "not an origin" is not an origin (scheme://host[:port], *.host, null or *)',
    'r.yaml:15:5: routes./x/:id/:id/:Bad-.typo: unknown key',
    'r.yaml:17:14: routes./y/:n.command: must be a list',
    'r.yaml:19:15: routes./y/:n.pathInfo: pathInfo needs a path without parameters',
    'r.yaml:21:15: routes./z.command.0: {prog} names no parameter of the path (the path /z has no parameters)',
    'r.yaml:22:3: routes.no-slash: key must match ^/ (a route path starts with /)',
    'r.yaml:24:7: routes./w: must be a mapping (key: value lines)'
  ])
  t.same(closest('prot', ['port', 'host']), 'port')
  t.equal(closest('zzzz', ['port']), undefined)
  t.equal(closest('ab', ['ba']), 'ba', 'a transposition is one edit')
})

t.test('the prebuilt (ajv standalone) validator agrees with the one compiled at run time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-validator-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, STANDALONE_FILE)
  await writeFile(file, standaloneValidatorSource())
  // Its requires of ajv's runtime helpers resolve from the repository's node_modules.
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  const prebuilt = quickValidator(file)
  const compiled = quickValidator(join(dir, 'none.cjs'))
  for (const value of [{ routes: { '/a': { command: ['cat'] } } }, { routes: {} }, null, { routes: { '/a': { command: ['cat'], mode: 'x' } } }]) {
    t.equal(prebuilt(value), compiled(value), JSON.stringify(value))
  }
  await writeFile(join(dir, 'broken.cjs'), 'throw new Error("broken")')
  t.throws(() => quickValidator(join(dir, 'broken.cjs')), /broken/, 'other load errors are not hidden')
})

t.test('an empty document and an empty key have positions', async (t) => {
  t.same(problems(''), ['routes.yaml:1:1: the configuration must be a mapping (key: value lines) with at least routes:'])
  t.same(problems('routes:\n  : { command: [cat] }\n'), ['routes.yaml:2:3: routes.: key must match ^/ (a route path starts with /)'])
  t.same(problems('routes:\n  /a:\n'), ['routes.yaml:2:6: routes./a: must be a mapping (key: value lines)'], 'a key without a value points just after it')
})

t.test('health and metrics paths cannot collide with routes or each other', async (t) => {
  t.same(problems('routes:\n  /healthz:\n    command: [cat]\n  /metrics:\n    command: [cat]\n'), [
    'routes.yaml:2:3: routes./healthz: /healthz is where health.live is served: set health.live to another path',
    'routes.yaml:4:3: routes./metrics: /metrics is where metrics.path is served: set metrics.path to another path'
  ])
  t.same(problems('health: { live: /a, ready: /a }\nmetrics: { path: /b }\nroutes:\n  /b:\n    command: [cat]\n'), [
    'routes.yaml:1:28: health.ready: /a is already used by health.live',
    'routes.yaml:2:18: metrics.path: /b is also a route'
  ])
  t.doesNotThrow(() => parseConfig('metrics: { port: 9100 }\nroutes:\n  /metrics:\n    command: [cat]\n', 'x', '/'), 'metrics on their own port free the path')
  t.doesNotThrow(() => parseConfig('metrics: { enabled: false }\nroutes:\n  /metrics:\n    command: [cat]\n', 'x', '/'))
})

t.test('YAML syntax errors and duplicate keys have positions too', async (t) => {
  t.match(problems('routes:\n  /a:\n    command: [cat\n'), [/^routes\.yaml:4:1: Flow sequence/])
  t.match(problems('routes:\n  /a:\n    command: [cat]\n  /a:\n    command: [cat]\n'), [/^routes\.yaml:4:3: Map keys must be unique/])
  t.match(problems('routes: [\n'), [/^routes\.yaml:\d+:\d+: /])
})

t.test('a ConfigError carries the problems as data', async (t) => {
  const err = t.throws(() => parseConfig('routes: 3\n', 'r.yaml', '/')) as ConfigError
  t.equal(err.code, 'WSEXEC_ERR_CONFIG')
  t.match(err.problems, [{ file: 'r.yaml', line: 1, column: 9, key: 'routes', message: 'must be a mapping (key: value lines)' }])
})

t.test('loadConfigFile reads a file relative to cwd and resolves paths against its folder', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-load-'))
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true })))
  await writeFile(join(dir, 'routes.yaml'), 'routes:\n  /a:\n    command: [cat]\n    cwd: sub\n')
  const config = await loadConfigFile('routes.yaml', dir)
  t.equal(config.source, 'routes.yaml')
  t.equal(config.baseDir, dir)
  t.equal(config.routes[0]?.cwd, join(dir, 'sub'))
  const absolute = await loadConfigFile(join(dir, 'routes.yaml'))
  t.equal(absolute.baseDir, dir)
  await t.rejects(loadConfigFile('missing.yaml', dir), { message: /missing\.yaml:1:1: cannot read the file \(ENOENT\)/ })
})

t.test('resolveExecutables names each route whose program is missing', async (t) => {
  const { resolveExecutables } = await import('../../src/config/executables.js')
  const config = parseConfig('routes:\n  /ok:\n    command: [cat]\n  /gone:\n    command: [no-such-program-here]\n', 'r.yaml', '/')
  const err = await resolveExecutables(config, { PATH: process.env['PATH'] }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ConfigError)
  t.match((err as ConfigError).problems, [{ file: 'r.yaml', line: 5, key: 'routes./gone.command.0' }])
})
