import type { Writable } from 'node:stream'
import { pino, type Level, type Logger } from 'pino'
import pretty from 'pino-pretty'
import { REDACT_PATHS } from './security/secrets.js'

export { LOG_LEVELS } from './cli/args.js'

/** A log level name. */
export type LogLevel = Level | 'silent'

/**
 * A pino logger writing JSON lines to `destination`, or human-readable lines when `pretty`
 * (a terminal). Secrets are never logged: credentials in headers and the token query parameter are redacted.
 */
export function createLogger (level: LogLevel, destination: Writable, isPretty: boolean): Logger {
  const options = { level, redact: [...REDACT_PATHS] }
  return isPretty
    ? pino(options, pretty({ destination, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' }))
    : pino(options, destination)
}
