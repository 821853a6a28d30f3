import type { Route } from '../config/load.js'
import { compilePattern, type LinearPattern } from '../pattern.js'
import { decodedPath } from './path-info.js'

/** One element of a route's argv: fixed text, or text with `{name}` parameter slots. */
type ArgTemplate = string | ReadonlyArray<string | { param: string }>

/** A route ready for matching: its path split into segments and its patterns compiled. */
export interface CompiledRoute<R extends Route = Route> {
  readonly route: R
  readonly segments: ReadonlyArray<string | { param: string, pattern: LinearPattern, allowDash: boolean }>
  readonly argv: readonly ArgTemplate[]
}

/**
 * Routes in matching order: exact paths first, then parameterised paths in file order, then
 * `pathInfo` routes by the longest path that starts the request path.
 */
export interface RouteTable<R extends Route = Route> {
  readonly exact: ReadonlyMap<string, CompiledRoute<R>>
  readonly parameterised: ReadonlyArray<CompiledRoute<R>>
  readonly prefixes: ReadonlyArray<CompiledRoute<R>>
  /** The longest parameter value matched (decoded characters); a longer one matches nothing. */
  readonly maxParamLength: number
}

/** A route matched by a request path, with its decoded parameters. */
export interface RouteMatch<R extends Route = Route> {
  readonly compiled: CompiledRoute<R>
  readonly params: Readonly<Record<string, string>>
  /** What follows the route's path on a `pathInfo` route (`/a/b` of `/tool/a/b`), percent-decoded; else empty. */
  readonly pathInfo: string
}

const SLOT = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * Compiles validated routes for {@link matchRoute}; patterns must match a whole segment, in linear
 * time, and values longer than `maxParamLength` characters match nothing.
 */
export function compileRoutes<R extends Route> (routes: readonly R[], maxParamLength: number): RouteTable<R> {
  const exact = new Map<string, CompiledRoute<R>>()
  const parameterised: Array<CompiledRoute<R>> = []
  const prefixes: Array<CompiledRoute<R>> = []
  for (const route of routes) {
    const segments = route.path === '/'
      ? []
      : route.path.slice(1).split('/').map((s) => s.startsWith(':')
        ? { param: s.slice(1), pattern: compilePattern(route.params[s.slice(1)] as string), allowDash: route.allowDash.includes(s.slice(1)) }
        : s)
    const argv = route.command.map((arg) => compileArg(arg, route.params))
    const compiled: CompiledRoute<R> = { route, segments, argv }
    if (segments.every((s) => typeof s === 'string')) {
      if (!exact.has(route.path)) exact.set(route.path, compiled)
      if (route.pathInfo) prefixes.push(compiled)
    } else {
      parameterised.push(compiled)
    }
  }
  prefixes.sort((a, b) => b.route.path.length - a.route.path.length)
  return { exact, parameterised, prefixes, maxParamLength }
}

function compileArg (arg: string, params: Readonly<Record<string, string>>): ArgTemplate {
  const parts: Array<string | { param: string }> = []
  let last = 0
  for (const m of arg.matchAll(SLOT)) {
    const name = m[1] as string
    parts.push(arg.slice(last, m.index), { param: name })
    last = m.index + m[0].length
  }
  if (parts.length === 0) return arg
  parts.push(arg.slice(last))
  return parts
}

/**
 * The route for a URL path (without the query), or undefined when none matches. A parameter
 * matches one segment, percent-decoded, of at most `maxParamLength` characters, that does not
 * start with `-` (unless the parameter allows it) and that its whole pattern accepts.
 */
export function matchRoute<R extends Route> (table: RouteTable<R>, pathname: string): RouteMatch<R> | undefined {
  const exact = table.exact.get(pathname)
  // websocketd's PATH_INFO: "/" when a command serves every path and "/" is asked for.
  if (exact !== undefined) return { compiled: exact, params: {}, pathInfo: exact.route.pathInfo && pathname === '/' ? '/' : '' }
  const parts = pathname === '/' ? [] : pathname.slice(1).split('/')
  for (const compiled of table.parameterised) {
    const params = matchSegments(compiled.segments, parts, table.maxParamLength)
    if (params !== undefined) return { compiled, params, pathInfo: '' }
  }
  for (const compiled of table.prefixes) {
    const path = compiled.route.path
    const rest = path === '/' ? pathname : pathname.startsWith(`${path}/`) ? pathname.slice(path.length) : undefined
    if (rest === undefined) continue
    // Decoded as websocketd's PATH_INFO is (`/a%2fb` is `/a/b`); a redirect has cleaned it first.
    const pathInfo = decodedPath(rest)
    return pathInfo === undefined ? undefined : { compiled, params: {}, pathInfo }
  }
  return undefined
}

function matchSegments (segments: CompiledRoute['segments'], parts: readonly string[], maxParamLength: number): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as CompiledRoute['segments'][number]
    const part = parts[i] as string
    if (typeof segment === 'string') {
      if (segment !== part) return undefined
      continue
    }
    let value: string
    try {
      value = decodeURIComponent(part)
    } catch {
      return undefined
    }
    // Checked before the pattern runs: a long value costs nothing, and an option-like value
    // (`-r`) never reaches the program's argv unless the route says it may.
    if (value.length > maxParamLength || (value.startsWith('-') && !segment.allowDash) || !segment.pattern.test(value)) return undefined
    params[segment.param] = value
  }
  return params
}

/** The argv for a matched route: each `{name}` slot replaced by its parameter's value. */
export function buildArgv (match: RouteMatch): string[] {
  return match.compiled.argv.map((arg) => typeof arg === 'string'
    ? arg
    : arg.map((part) => typeof part === 'string' ? part : match.params[part.param] as string).join(''))
}
