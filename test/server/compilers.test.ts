import fastify from 'fastify'
import t from 'tap'
import { lazyCompilers } from '../../src/server/compilers.js'

t.test('a route with a schema still gets fastify\'s validator and serializer, loaded when it is readied', async (t) => {
  const app = fastify(lazyCompilers())
  t.after(() => app.close())
  app.get('/sum', {
    schema: {
      querystring: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] },
      response: { 200: { type: 'object', properties: { sum: { type: 'integer' } } } }
    }
  }, async (request) => {
    const { a, b } = request.query as { a: number, b: number }
    // `secret` is not in the response schema: the serializer leaves it out.
    return { sum: a + b, secret: 'x' }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const ok = await fetch(`${base}/sum?a=2&b=3`)
  t.equal(ok.status, 200)
  t.same(await ok.json(), { sum: 5 }, 'coerced by ajv, serialized by fast-json-stringify')
  const bad = await fetch(`${base}/sum?a=2&b=x`)
  t.equal(bad.status, 400, 'refused by the validator')
  t.match(await bad.json(), { code: 'FST_ERR_VALIDATION' })
})

t.test('each server gets its own compilers', async (t) => {
  const one = lazyCompilers().schemaController.compilersFactory
  const two = lazyCompilers().schemaController.compilersFactory
  t.not(one?.buildValidator, two?.buildValidator)
  t.not(one?.buildSerializer, two?.buildSerializer)
})
