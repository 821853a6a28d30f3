import { readFile } from 'node:fs/promises'
import t from 'tap'
import { schemaJson } from '../../src/config/print-schema.js'
import { parseConfig } from '../../src/config/load.js'
import { DEFAULTS } from '../../src/config/schema.js'

t.test('config/wsexec.schema.json is generated from the schema (run npm run schema)', async (t) => {
  const published = await readFile(new URL('../../config/wsexec.schema.json', import.meta.url), 'utf8')
  t.equal(published, schemaJson())
})

t.test('the published schema documents the defaults normalisation applies', async (t) => {
  const schema = JSON.parse(schemaJson())
  const route = schema.properties.routes.patternProperties['^/'].properties
  t.equal(route.mode.default, DEFAULTS.mode)
  t.equal(route.stderr.default, DEFAULTS.stderr)
  t.equal(route.maxLineBytes.default, DEFAULTS.maxLineBytes)
  const [normalised] = parseConfig('routes:\n  /a:\n    command: [cat]\n', 'x', '/').routes
  t.equal(normalised?.closeGraceMs, 1000)
  t.equal(normalised?.killGraceMs, 2000)
})
