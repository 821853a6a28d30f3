import { Type } from '@sinclair/typebox'
import { DURATION_PATTERN } from './duration.js'
import { SIZE_PATTERN } from './size.js'

/** Keyword read by the error formatter: the message shown when a union (`anyOf`) fails. The schema's only custom keyword. */
export const MESSAGE_KEYWORD = 'x-message'

/** Names of environment variables (`env`, `passEnv`, `tokensEnv`), as POSIX shells accept them. */
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$'

/** Default sizes in bytes, in one place: a line, a client message, a request head. */
export const SIZE_DEFAULTS = Object.freeze({
  maxLineBytes: 1_048_576,
  maxMessageBytes: 1_048_576,
  maxHeaderBytes: 16_384
} as const)

/** A duration: whole milliseconds or a string such as `500ms`, `1s`, `5m` (see `toMs`). */
export const Duration = (description: string, defaultValue?: string | number) => Type.Union([
  Type.Integer({ minimum: 0 }),
  Type.String({ pattern: DURATION_PATTERN })
], { description, ...(defaultValue === undefined ? {} : { default: defaultValue }), [MESSAGE_KEYWORD]: 'must be a duration such as 500ms, 1s, 5m, or a number of milliseconds' })

/** A size: whole bytes or a string such as `64KiB`, `512MiB`, `100MB` (see `toBytes`). */
export const Size = (description: string, defaultValue?: string | number) => Type.Union([
  Type.Integer({ minimum: 0 }),
  Type.String({ pattern: SIZE_PATTERN })
], { description, ...(defaultValue === undefined ? {} : { default: defaultValue }), [MESSAGE_KEYWORD]: 'must be a size such as 64KiB, 512MiB, 100MB, or a number of bytes' })

/** The name of an environment variable. */
export const EnvName = (options: { description?: string } = {}) => Type.String({ pattern: ENV_NAME_PATTERN, ...options })
