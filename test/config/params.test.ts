import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

function problems (yaml: string): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', '/srv/app')
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1)
    throw err
  }
  throw new Error('the configuration was accepted')
}

t.test('params: a string, or { pattern, allowDash }; maxParamLength defaults to 256', async (t) => {
  const config = parseConfig(`maxParamLength: 64
routes:
  /grep/:x/:y/:z:
    command: [grep, "{x}", "{y}", "{z}"]
    params:
      x: "[a-z -]+"
      y: { pattern: "[a-z -]+", allowDash: true }
      z: { pattern: "[0-9]+" }
`, 'routes.yaml', '/srv/app')
  t.equal(config.maxParamLength, 64)
  t.same(config.routes[0]?.params, { x: '[a-z -]+', y: '[a-z -]+', z: '[0-9]+' })
  t.same(config.routes[0]?.allowDash, ['y'])
  t.equal(parseConfig('routes:\n  /a:\n    command: [cat]\n', 'r.yaml', '/').maxParamLength, 256)
})

t.test('patterns that cannot be matched in linear time, bad params and bad maxParamLength are refused with their place', async (t) => {
  t.same(problems(`routes:
  /a/:x/:y:
    command: [echo, "{x}"]
    params:
      x: "(a)\\\\1"
      y: { pattern: "(?=a)a" }
`), [
    'routes.yaml:5:10: routes./a/:x/:y.params.x: cannot be matched in linear time: backreferences cannot be matched in linear time',
    'routes.yaml:6:21: routes./a/:x/:y.params.y.pattern: cannot be matched in linear time: lookahead and lookbehind cannot be matched in linear time'
  ])
  t.same(problems('routes:\n  /a/:z:\n    command: [cat]\n    params: { z: { pattern: "a", allowDash: "yes" } }\n'), [
    'routes.yaml:4:18: routes./a/:z.params.z: must be a regular expression, or { pattern: "...", allowDash: true }'
  ])
  t.same(problems('maxParamLength: 0\nroutes:\n  /a:\n    command: [cat]\n'), ['routes.yaml:1:17: maxParamLength: must be at least 1'])
  t.same(problems('routes:\n  /a/:x:\n    command: [cat]\n    params: { x: { pattern: "[" } }\n'), [
    'routes.yaml:4:29: routes./a/:x.params.x.pattern: invalid regular expression: Invalid regular expression: /[/: Unterminated character class'
  ])
})
