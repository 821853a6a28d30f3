import { ConfigSchema } from './schema.js'

/** The published JSON Schema of the configuration file (config/wsexec.schema.json), as text. */
export function schemaJson (): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...ConfigSchema }, null, 2)}\n`
}
