import { createRequire } from 'node:module'
import type { Ajv as AjvClass, ErrorObject, Options, ValidateFunction } from 'ajv'
import { ConfigSchema, type ConfigInput } from './schema.js'
import { MESSAGE_KEYWORD } from './schema-parts.js'
import { closest } from './suggest.js'

/** One schema violation: where (path segments, and whether the key itself is meant) and what. */
export interface SchemaProblem {
  path: string[]
  key: boolean
  message: string
}

/** Where `npm run build` writes the validator compiled ahead of time (ajv standalone code). */
export const STANDALONE_FILE = 'schema-validator.cjs'

const require = createRequire(import.meta.url)

/** Options of both validators; the detailed one adds `allErrors` and `verbose`. */
const AJV_OPTIONS: Options = { strict: true, code: { source: true } }

function newAjv (options: Options): AjvClass {
  // Loaded on demand: a valid configuration with the prebuilt validator never needs ajv's compiler.
  const { Ajv } = require('ajv') as typeof import('ajv')
  const ajv = new Ajv({ ...AJV_OPTIONS, ...options })
  ajv.addKeyword({ keyword: MESSAGE_KEYWORD, schemaType: 'string' })
  return ajv
}

/**
 * The source of a CommonJS module exporting the configuration's validator: ajv standalone code,
 * which `npm run build` writes next to this module as {@link STANDALONE_FILE}.
 */
export function standaloneValidatorSource (): string {
  // Imported here only: the build runs it, a server never does.
  const standalone = require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js')
  const ajv = newAjv({})
  return standalone.default(ajv, ajv.compile(ConfigSchema))
}

/**
 * The quick yes/no validator: the prebuilt one in `file` when it exists (`npm run build`), else
 * compiled now (running from the sources).
 */
export function quickValidator (file: string = `./${STANDALONE_FILE}`): (value: unknown) => boolean {
  try {
    return require(file) as (value: unknown) => boolean
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err
    return newAjv({}).compile(ConfigSchema)
  }
}

let quick: ((value: unknown) => boolean) | undefined
let detailed: ValidateFunction<ConfigInput> | undefined

/** Validates a parsed configuration against the schema; returns no problems when it is valid. */
export function validateSchema (value: unknown): SchemaProblem[] {
  quick ??= quickValidator()
  if (quick(value)) return []
  // Only an invalid file pays for the validator that collects every error with its schema.
  detailed ??= newAjv({ allErrors: true, verbose: true }).compile<ConfigInput>(ConfigSchema)
  detailed(value)
  return describe(detailed.errors as ErrorObject[])
}

function pointerToPath (pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

function describe (errs: readonly ErrorObject[]): SchemaProblem[] {
  // A union with its own message replaces the errors of its branches.
  const unions = errs.filter((e) => e.keyword === 'anyOf' && typeof e.parentSchema?.[MESSAGE_KEYWORD] === 'string')
  return errs.filter((e) => !unions.some((u) => u !== e && e.schemaPath.startsWith(`${u.schemaPath}/`))).map(toProblem)
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping (key: value lines)',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false'
}

function toProblem (e: ErrorObject): SchemaProblem {
  const path = pointerToPath(e.instancePath)
  const params = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(params['additionalProperty'])
      const patterns = e.parentSchema?.['patternProperties'] as Record<string, unknown> | undefined
      if (patterns === undefined) {
        const known = Object.keys(e.parentSchema?.['properties'] as Record<string, unknown>)
        const hint = closest(name, known)
        return { path: [...path, name], key: true, message: `unknown key${hint === undefined ? '' : `: did you mean ${hint}?`}` }
      }
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
    case 'type': {
      const expected = String(params['type'])
      const what = TYPE_NAMES[expected] as string
      if (path.length === 0) return { path, key: false, message: `the configuration must be ${what} with at least routes:` }
      return { path, key: false, message: `must be ${what}` }
    }
    // The schema's only limits are 1: `routes`, and `rlimits`, are the objects with one outside a union.
    case 'minProperties':
      return { path, key: false, message: path.length === 1 && path[0] === 'routes' ? 'needs at least one route' : 'must not be empty' }
    case 'minItems':
    case 'minLength':
      return { path, key: false, message: 'must not be empty' }
    case 'minimum':
      return { path, key: false, message: `must be at least ${String(params['limit'])}` }
    case 'maximum':
      return { path, key: false, message: `must be at most ${String(params['limit'])}` }
    /* c8 ignore next 2 */ // every keyword the schema uses is named above; a new one still says something
    default:
      return { path, key: false, message: e.message as string }
  }
}
