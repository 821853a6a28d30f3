import type { IncomingHttpHeaders } from 'node:http'
import type { Route } from '../config/load.js'
import { splitUrl } from '../url.js'
import { VERSION } from '../version.js'

/** What a session's environment is built from: the request as the server saw it. */
export interface RequestInfo {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly serverPort: number
  /** The request target as sent, such as `/count/5?x=1`. */
  readonly url: string
  readonly pathname: string
  /** The part of `pathname` after the route's path on a `pathInfo` route; else empty. */
  readonly pathInfo?: string
  readonly headers: IncomingHttpHeaders
  readonly secure: boolean
  /** Who the request authenticated as: REMOTE_USER and AUTH_TYPE. */
  readonly user?: { readonly name: string, readonly type: string } | undefined
}

// The `Proxy` header would become HTTP_PROXY in the child (httpoxy): never hand it down.
const DROPPED_HEADERS = new Set(['proxy'])
// Only these names map one-to-one onto HTTP_<NAME>: with `_` or `.`, `X_User` could pose as `X-User` (Apache's CGI drops them too).
const PASSED_HEADER_NAME = /^[A-Za-z0-9-]+$/

/**
 * The part of a route's environment that is the same for every session: the variables of
 * `passEnv` taken from the server's environment, and the constant CGI variables.
 */
export function routeEnvironment (route: Route, serverEnv: Readonly<Record<string, string | undefined>>, software: string): Readonly<Record<string, string>> {
  const env: Record<string, string> = {}
  for (const name of route.passEnv) {
    const value = serverEnv[name]
    if (value !== undefined) env[name] = value
  }
  env['SERVER_SOFTWARE'] = software
  env['GATEWAY_INTERFACE'] = 'websocketd-CGI/0.1'
  env['SERVER_PROTOCOL'] = 'HTTP/1.1'
  env['REQUEST_METHOD'] = 'GET'
  env['PATH_INFO'] = ''
  env['PATH_TRANSLATED'] = ''
  env['AUTH_TYPE'] = ''
  env['CONTENT_LENGTH'] = ''
  env['CONTENT_TYPE'] = ''
  env['REMOTE_IDENT'] = ''
  env['REMOTE_USER'] = ''
  env['WSEXEC_ROUTE'] = route.path
  return Object.freeze(env)
}

/** {@link routeEnvironment} of every route, with `wsexec/VERSION` as the server software. */
export function routeEnvironments<R extends Route> (routes: readonly R[], serverEnv: Readonly<Record<string, string | undefined>>): ReadonlyMap<R, Readonly<Record<string, string>>> {
  const software = `wsexec/${VERSION}`
  return new Map(routes.map((r) => [r, routeEnvironment(r, serverEnv, software)]))
}

/**
 * The whole environment of one session's program, websocketd-compatible: the route's constant
 * part, `HTTP_<HEADER>` for each request header named with letters, digits and `-` only, the request's CGI variables, the path
 * parameters as `WSEXEC_PARAM_<NAME>`, and last the route's own `env`.
 */
export function sessionEnvironment (base: Readonly<Record<string, string>>, route: Route, request: RequestInfo, params: Readonly<Record<string, string>>, sessionId: string): Record<string, string> {
  const env: Record<string, string> = { ...base }
  for (const name in request.headers) {
    if (DROPPED_HEADERS.has(name) || !PASSED_HEADER_NAME.test(name)) continue
    const value = request.headers[name] as string | string[]
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = Array.isArray(value) ? value.join(', ') : value
  }
  const host = request.headers.host ?? ''
  env['REMOTE_ADDR'] = request.remoteAddress
  env['REMOTE_HOST'] = request.remoteAddress
  env['REMOTE_PORT'] = String(request.remotePort)
  env['SERVER_NAME'] = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] as string
  env['SERVER_PORT'] = String(request.serverPort)
  const pathInfo = request.pathInfo ?? ''
  env['SCRIPT_NAME'] = pathInfo === '' ? request.pathname : route.path
  env['PATH_INFO'] = pathInfo
  env['QUERY_STRING'] = splitUrl(request.url).query ?? ''
  env['REQUEST_URI'] = request.url
  env['UNIQUE_ID'] = sessionId
  if (request.secure) env['HTTPS'] = 'on'
  if (request.user !== undefined) {
    env['REMOTE_USER'] = request.user.name
    env['AUTH_TYPE'] = request.user.type
  }
  for (const name in params) env[`WSEXEC_PARAM_${name.toUpperCase()}`] = params[name] as string
  for (const name in route.env) env[name] = route.env[name] as string
  return env
}
