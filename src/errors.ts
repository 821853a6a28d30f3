import createError from '@fastify/error'

/** Seconds a client refused for a full or draining server is told to wait (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 5

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
  /** The request path has a `%` escape that does not decode (`/%ff`, `/echo%`): answered with `Connection: close`. */
  BAD_URL: createError('WSEXEC_ERR_BAD_URL', 'The request path is not a valid URL: a percent escape does not decode', 400),
  /** The upgrade request breaks RFC 6455 in a way ws does not check, such as a missing Host header. */
  BAD_HANDSHAKE: createError('WSEXEC_ERR_BAD_HANDSHAKE', 'Bad WebSocket handshake: %s', 400),
  /** The request's Host is not one of `allowedHosts` (by default, on loopback: localhost names only): DNS rebinding. */
  HOST_NOT_ALLOWED: createError('WSEXEC_ERR_HOST_NOT_ALLOWED', 'Host %s is not allowed: add it to allowedHosts', 403),
  /** The request's Origin is not allowed on the route (cross-site WebSocket hijacking), or it has none and one is required. */
  ORIGIN_NOT_ALLOWED: createError('WSEXEC_ERR_ORIGIN_NOT_ALLOWED', 'Origin %s may not connect to %s', 403),
  /** The route needs credentials the request did not carry or that are wrong. */
  UNAUTHORIZED: createError('WSEXEC_ERR_UNAUTHORIZED', '%s needs authentication', 401),
  /** The client certificate does not carry exactly one subject CN, so it names no user. */
  BAD_CLIENT_CERTIFICATE: createError('WSEXEC_ERR_BAD_CLIENT_CERTIFICATE', 'The client certificate must carry exactly one common name (CN)', 401),
  /** The authenticated user may not use the route: not on its `users`/`groups` lists, or (`user: "{REMOTE_USER}"`) without a usable local account. */
  FORBIDDEN: createError('WSEXEC_ERR_FORBIDDEN', '%s may not use %s', 403),
  /** The client address failed authentication `maxFailures` times within `failureWindow`; Retry-After says when to come back. */
  TOO_MANY_AUTH_FAILURES: createError('WSEXEC_ERR_TOO_MANY_AUTH_FAILURES', 'Too many failed authentications from your address on %s: try again later', 429),
  /** The server (maxSessions) or the route (its maxSessions) is full; Retry-After says when to come back. */
  TOO_MANY_SESSIONS: createError('WSEXEC_ERR_TOO_MANY_SESSIONS', 'Too many sessions on %s: try again later', 503),
  /** The server holds `maxConnections` connections (the descriptor budget's or the configured cap): answered on the raw connection, before any request is read. */
  TOO_MANY_CONNECTIONS: createError('WSEXEC_ERR_TOO_MANY_CONNECTIONS', 'Too many connections: try again later', 503),
  /** `maxPendingSpawns` program starts are waiting or in flight already; Retry-After says when to come back. */
  BUSY: createError('WSEXEC_ERR_BUSY', 'The server is busy starting programs: try again later', 503),
  /** The client address has maxSessionsPerClient sessions open already. */
  TOO_MANY_CLIENT_SESSIONS: createError('WSEXEC_ERR_TOO_MANY_CLIENT_SESSIONS', 'Too many sessions from your address on %s', 429),
  /** The client offered none of the route's subprotocols and the route does not speak `plain`. */
  PROTOCOL_NOT_SUPPORTED: createError('WSEXEC_ERR_PROTOCOL_NOT_SUPPORTED', '%s speaks only the subprotocols %s', 400),
  /** The query of a channel session asks for no stream, or for a terminal on a route without one (as the Kubernetes API server refuses it). */
  BAD_STREAM_OPTIONS: createError('WSEXEC_ERR_BAD_STREAM_OPTIONS', '%s', 400),
  /** A mistake on the command line (`UsageError`): the message names the bad argument. */
  USAGE: createError('WSEXEC_ERR_USAGE', '%s', 400),
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

/** A mistake on the command line (`code` WSEXEC_ERR_USAGE): `wsexec` prints it with a pointer to `--help` and exits 2. */
export class UsageError extends errors.USAGE {}
