import createError from '@fastify/error'

/**
 * Every deliberate error wsexec raises, by code. HTTP refusals carry their status and are
 * answered before any upgrade or process start; the others are start-up or usage errors.
 */
export const errors = {
  /** No route matches the request path, or a path parameter fails its pattern. */
  ROUTE_NOT_FOUND: createError('WSEXEC_ERR_ROUTE_NOT_FOUND', 'No route for %s', 404),
  /** A route was requested without a WebSocket upgrade. */
  UPGRADE_REQUIRED: createError('WSEXEC_ERR_UPGRADE_REQUIRED', '%s is a WebSocket endpoint: connect with a WebSocket client', 426),
  /** The server is draining before it stops: try again (another instance) later. */
  DRAINING: createError('WSEXEC_ERR_DRAINING', 'The server is shutting down and accepts no new sessions', 503),
  /** The configuration file is invalid; the message lists every problem as file:line:column. */
  CONFIG: createError('WSEXEC_ERR_CONFIG', 'Invalid configuration:\n%s', 500)
} as const

/** One problem in a configuration file, with its place. Lines and columns count from 1. */
export interface ConfigProblem {
  file: string
  line: number
  column: number
  /** Dotted key path, such as `routes./bc.mode`; empty for the document itself. */
  key: string
  message: string
}

/** `file:line:column: key: message`, the form every config error is printed in. */
export function formatProblem (p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.key === '' ? '' : `${p.key}: `}${p.message}`
}

/** An invalid configuration: `problems` holds each one with its place. */
export class ConfigError extends errors.CONFIG {
  readonly problems: readonly ConfigProblem[]

  constructor (problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.problems = problems
  }
}
