import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { buildArgv, compileRoutes, matchRoute } from '../../src/server/routes.js'

const config = parseConfig(`
routes:
  /echo:
    command: [cat]
  /count/:n:
    command: [seq, "1", "{n}", "x{n}y{n}", "{n"]
    params: { n: "[0-9]{1,3}" }
  /count/:word:
    command: [echo, "{word}"]
    params: { word: "[a-z]+" }
  /files/:dir/:name:
    command: [ls, "{dir}/{name}"]
    params: { dir: "[a-z./]+", name: ".+" }
  /:
    command: [date]
`, 'routes.yaml', '/tmp')

const table = compileRoutes([...config.routes, { ...config.routes[0]!, command: ['second'] }], 256)

t.test('exact paths match first, and only exactly', async (t) => {
  t.equal(matchRoute(table, '/echo')?.compiled.route.command[0], 'cat', 'the first of two identical paths wins')
  t.equal(matchRoute(table, '/')?.compiled.route.path, '/')
  t.equal(matchRoute(table, '/echo/'), undefined)
  t.equal(matchRoute(table, '/ECHO'), undefined)
  t.equal(matchRoute(table, '/nope'), undefined)
})

t.test('parameters must match their whole pattern', async (t) => {
  const m = matchRoute(table, '/count/42')
  t.equal(m?.compiled.route.path, '/count/:n')
  t.same(m?.params, { n: '42' })
  t.equal(matchRoute(table, '/count/1234')?.compiled.route.path, undefined, 'too long for n and not a word')
  t.same(matchRoute(table, '/count/abc')?.params, { word: 'abc' }, 'the next route is tried')
  t.equal(matchRoute(table, '/count/12abc'), undefined, 'no partial matches')
  t.equal(matchRoute(table, '/count/'), undefined, 'an empty segment is no value')
  t.equal(matchRoute(table, '/count/1/2'), undefined)
})

t.test('parameters are percent-decoded before the pattern sees them', async (t) => {
  t.same(matchRoute(table, '/files/a%2E%2E/b%20c')?.params, { dir: 'a..', name: 'b c' })
  t.equal(matchRoute(table, '/files/a%2F..%2F..%2Fetc/passwd')?.compiled.route.path, '/files/:dir/:name', 'slashes decoded inside one segment')
  t.equal(matchRoute(table, '/files/%E0%A4%A/x'), undefined, 'malformed escapes do not match')
  t.equal(matchRoute(table, '/files/..;rm/x'), undefined, 'characters outside the pattern do not match')
})

t.test('argv slots take parameter values as whole arguments, never through a shell', async (t) => {
  t.same(buildArgv(matchRoute(table, '/count/7')!), ['seq', '1', '7', 'x7y7', '{n'])
  t.same(buildArgv(matchRoute(table, '/files/a/$(reboot);%20x')!), ['ls', 'a/$(reboot); x'])
  t.same(buildArgv(matchRoute(table, '/echo')!), ['cat'])
})

t.test('a table without parameterised routes, and one without exact ones', async (t) => {
  t.equal(matchRoute(compileRoutes([config.routes[0]!], 256), '/x'), undefined)
  const parameterised = compileRoutes(config.routes.filter((r) => r.path.includes(':')), 256)
  t.equal(matchRoute(parameterised, '/'), undefined)
  t.equal(matchRoute(parameterised, '/echo'), undefined)
})

t.test('a value longer than maxParamLength, or starting with - where the parameter does not allow it, matches nothing', async (t) => {
  const dashed = parseConfig(`
routes:
  /grep/:x:
    command: [grep, "{x}", /etc/hostname]
    params: { x: "[a-zA-Z0-9 -]+" }
  /opt/:x:
    command: [echo, --, "{x}"]
    params: { x: { pattern: "[a-z-]+", allowDash: true } }
  /slow/:x:
    command: [echo, "{x}"]
    params: { x: "(a+)+b" }
`, 'routes.yaml', '/tmp')
  const routes = compileRoutes(dashed.routes, 8)
  t.equal(matchRoute(routes, '/grep/-r'), undefined, '-r is no value for {x}')
  t.equal(matchRoute(routes, '/grep/%2Dr'), undefined, 'nor once decoded')
  t.same(matchRoute(routes, '/grep/a-r')?.params, { x: 'a-r' }, 'a dash inside is fine')
  t.same(buildArgv(matchRoute(routes, '/opt/-r')!), ['echo', '--', '-r'], 'allowDash: true lets it through')
  t.same(matchRoute(routes, '/grep/12345678')?.params, { x: '12345678' }, '8 characters: the limit')
  t.equal(matchRoute(routes, '/grep/123456789'), undefined, '9 characters: over maxParamLength')
  t.same(matchRoute(routes, '/grep/%41%41%41%41%41%41%41%41')?.params, { x: 'AAAAAAAA' }, 'the decoded length counts')
  t.equal(matchRoute(compileRoutes(dashed.routes, 256), `/slow/${'a'.repeat(200)}`), undefined, '(a+)+b on 200 a: no match, in linear time')
})

t.test('pathInfo is percent-decoded; a rest that does not decode matches nothing', async (t) => {
  const prefixed = compileRoutes(parseConfig('routes:\n  /tool:\n    command: [cat]\n    pathInfo: true\n', 'routes.yaml', '/tmp').routes, 256)
  t.equal(matchRoute(prefixed, '/tool/a%2fb%20c')?.pathInfo, '/a/b c')
  t.equal(matchRoute(prefixed, '/tool/%ff'), undefined)
})
