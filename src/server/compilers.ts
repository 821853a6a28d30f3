import { createRequire } from 'node:module'
import type { FastifyServerOptions } from 'fastify'

type SchemaController = NonNullable<FastifyServerOptions['schemaController']>
type Factory = (schemas: unknown, options: unknown) => unknown

// fastify's own compilers, resolved from fastify's folder as fastify itself resolves them.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'))

function lazy (name: string): Factory {
  let factory: Factory | undefined
  return (schemas, options) => {
    factory ??= (fromFastify(name) as () => Factory)()
    return factory(schemas, options)
  }
}

/**
 * fastify's default schema compilers (ajv, fast-json-stringify) for one server, loaded when a route
 * with a schema is first readied: fastify would load ajv as the server is made, and wsexec's routes have none.
 */
export function lazyCompilers (): { schemaController: SchemaController } {
  const compilersFactory = { buildValidator: lazy('@fastify/ajv-compiler'), buildSerializer: lazy('@fastify/fast-json-stringify-compiler') }
  return { schemaController: { compilersFactory: compilersFactory as NonNullable<SchemaController['compilersFactory']> } }
}
