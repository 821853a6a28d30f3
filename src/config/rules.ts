import type { ConfigProblem } from '../errors.js'
import { compilePattern, PatternError } from '../pattern.js'
import { DEFAULTS, type ConfigInput, type RouteInput } from './schema.js'
import { closest } from './suggest.js'

/** Makes a problem at a key path; `key` points at the key rather than its value. */
export type Problem = (path: readonly string[], message: string, key?: boolean) => ConfigProblem

const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]*)$/

/**
 * Route rules a schema cannot express: path syntax, one pattern per parameter, valid patterns,
 * `{placeholders}` that name parameters. `route` holds the keys the schema accepts (any may be
 * missing when the file got them wrong); `written` names the parameters the file gives an entry in
 * `params`, well-formed or not (a malformed one has its own message, not "needs a pattern").
 */
export function checkRoute (path: string, route: Partial<RouteInput>, problem: Problem, written: readonly string[]): ConfigProblem[] {
  const at = ['routes', path]
  const out: ConfigProblem[] = []
  const names = new Set<string>()
  const segments = path === '/' ? [] : path.slice(1).split('/')
  for (const segment of segments) {
    if (segment === '') {
      out.push(problem(at, 'a route path has no empty segments (no // and no trailing /)', true))
      continue
    }
    if (!segment.startsWith(':')) continue
    const name = PARAM_SEGMENT.exec(segment)?.[1]
    if (name === undefined) out.push(problem(at, `${segment} is not a valid parameter (use :name with letters, digits and _)`, true))
    else if (names.has(name)) out.push(problem(at, `parameter :${name} appears twice`, true))
    else names.add(name)
  }
  const params = route.params ?? {}
  for (const name of names) {
    if (params[name] === undefined && !written.includes(name)) out.push(problem([...at, 'params'], `path parameter :${name} needs a pattern in params`))
  }
  for (const [name, param] of Object.entries(params)) {
    if (!names.has(name)) out.push(problem([...at, 'params', name], `is not a parameter of the path ${path}`, true))
    const where = typeof param === 'string' ? [...at, 'params', name] : [...at, 'params', name, 'pattern']
    try {
      compilePattern(typeof param === 'string' ? param : param.pattern)
    } catch (err) {
      out.push(problem(where, err instanceof PatternError ? `cannot be matched in linear time: ${err.message}` : `invalid regular expression: ${(err as Error).message}`))
    }
  }
  const command = route.command ?? []
  if (/\{[A-Za-z_][A-Za-z0-9_]*\}/.test(command[0] ?? '') && names.size > 0) {
    out.push(problem([...at, 'command', '0'], 'the program itself cannot come from a path parameter'))
  }
  command.forEach((arg, i) => {
    for (const m of arg.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      const name = m[1] as string
      if (names.has(name)) continue
      const known = names.size === 0 ? `the path ${path} has no parameters` : `parameters: ${[...names].map((n) => `{${n}}`).join(', ')}`
      const hint = closest(name, [...names])
      out.push(problem([...at, 'command', String(i)], `{${name}} names no parameter of the path (${known})${hint === undefined ? '' : `; did you mean {${hint}}?`}`))
    }
  })
  if (route.pathInfo === true && names.size > 0) {
    out.push(problem([...at, 'pathInfo'], 'pathInfo needs a path without parameters'))
  }
  if (route.stderr === 'tagged' && route.mode === 'binary') {
    out.push(problem([...at, 'stderr'], 'tagged needs mode: text'))
  }
  if (route.stderr === 'tagged' && route.tty === true) {
    out.push(problem([...at, 'stderr'], 'a terminal merges stderr into its output: tagged needs tty: false'))
  }
  const channels = (route.protocols ?? []).some((p) => p !== 'plain')
  if (route.share !== undefined && channels) out.push(problem([...at, 'share'], 'a shared program speaks the plain protocol only: share needs protocols: [plain]', true))
  if (route.resume !== undefined && channels) out.push(problem([...at, 'resume'], 'a route has either resume or the channel protocols: resume needs protocols: [plain]', true))
  if (route.share !== undefined && route.resume !== undefined) out.push(problem([...at, 'resume'], 'a shared program outlives its clients already: a route has either share or resume', true))
  return out
}

/** Health and metrics paths are served by wsexec itself: no route and no other endpoint may use them. */
export function checkEndpoints (input: ConfigInput, problem: Problem): ConfigProblem[] {
  const endpoints: Array<[string[], string | undefined, string]> = [
    [['health', 'live'], input.health?.live, DEFAULTS.livePath],
    [['health', 'ready'], input.health?.ready, DEFAULTS.readyPath]
  ]
  if (input.metrics?.enabled !== false && input.metrics?.port === undefined) endpoints.push([['metrics', 'path'], input.metrics?.path, DEFAULTS.metricsPath])
  const out: ConfigProblem[] = []
  const taken = new Map<string, string>()
  for (const [at, given, fallback] of endpoints) {
    const path = given ?? fallback
    const name = at.join('.')
    if (input.routes[path] !== undefined) {
      out.push(given === undefined
        ? problem(['routes', path], `${path} is where ${name} is served: set ${name} to another path`, true)
        : problem(at, `${path} is also a route`))
    } else if (taken.has(path)) {
      out.push(problem(at, `${path} is already used by ${taken.get(path) as string}`))
    }
    taken.set(path, name)
  }
  return out
}
