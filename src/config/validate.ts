import { Ajv, type ErrorObject } from 'ajv'
import { ConfigSchema, MESSAGE_KEYWORD, type ConfigInput } from './schema.js'

/** One schema violation: where (path segments, and whether the key itself is meant) and what. */
export interface SchemaProblem {
  path: string[]
  key: boolean
  message: string
}

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true })
ajv.addKeyword({ keyword: MESSAGE_KEYWORD, schemaType: 'string' })
const check = ajv.compile<ConfigInput>(ConfigSchema)

/** Validates a parsed configuration against the schema; returns no problems when it is valid. */
export function validateSchema (value: unknown): SchemaProblem[] {
  if (check(value)) return []
  return describe(check.errors as ErrorObject[])
}

function pointerToPath (pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

function describe (errs: readonly ErrorObject[]): SchemaProblem[] {
  // A union with its own message replaces the errors of its branches.
  const unions = errs.filter((e) => e.keyword === 'anyOf' && typeof e.parentSchema?.[MESSAGE_KEYWORD] === 'string')
  return errs.filter((e) => !unions.some((u) => u !== e && e.schemaPath.startsWith(`${u.schemaPath}/`))).map(toProblem)
}

function toProblem (e: ErrorObject): SchemaProblem {
  const path = pointerToPath(e.instancePath)
  const params = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(params['additionalProperty'])
      const patterns = e.parentSchema?.['patternProperties'] as Record<string, unknown> | undefined
      if (patterns === undefined) return { path: [...path, name], key: true, message: 'unknown key' }
      const hint = path.length === 1 && path[0] === 'routes' ? ' (a route path starts with /)' : ''
      return { path: [...path, name], key: true, message: `key must match ${Object.keys(patterns).join(', ')}${hint}` }
    }
    case 'required':
      return { path: [...path, String(params['missingProperty'])], key: false, message: 'is required' }
    case 'enum':
      return { path, key: false, message: `must be one of ${(params['allowedValues'] as unknown[]).join(', ')}` }
    case 'anyOf':
      return { path, key: false, message: String(e.parentSchema?.[MESSAGE_KEYWORD]) }
    case 'pattern':
      return { path, key: false, message: `must match ${String(params['pattern'])}` }
    default:
      return { path, key: false, message: e.message as string }
  }
}
