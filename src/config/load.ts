import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { ConfigError, type ConfigProblem } from '../errors.js'
import { toMs } from './duration.js'
import { PositionFinder, type Position } from './positions.js'
import { DEFAULTS, type ConfigInput, type RouteInput } from './schema.js'
import { checkSecurity, defaultAuth, routeSecurity, serverSecurity, type AuthSpec, type RouteSecurity, type ServerSecurity } from './security.js'
import type { RouteSecurityInput } from './security-schema.js'
import { checkProgram } from './executables.js'
import { closest } from './suggest.js'
import { validateSchema } from './validate.js'

/** A route after validation: defaults applied, durations in milliseconds, paths absolute. */
export type Route = Readonly<Omit<Required<RouteInput>, 'closeGrace' | 'killGrace' | 'cwd' | 'command' | 'passEnv' | 'ttySize' | 'protocols' | keyof RouteSecurityInput> & RouteSecurity & {
  command: readonly string[]
  /** tty routes: the terminal size when the query gives none. */
  ttySize: Readonly<{ cols: number, rows: number }>
  /** Subprotocols the route speaks, in the server's order of preference. */
  protocols: ReadonlyArray<NonNullable<RouteInput['protocols']>[number]>
  passEnv: readonly string[]
  /** The route's path as written, such as `/count/:n`. */
  path: string
  /** The program: `command[0]` until {@link resolveExecutables} makes it an absolute path. */
  executable: string
  /** Where `command[0]` stands in the source, for start-up errors. */
  commandAt: Position
  /** Absolute working directory, or undefined for the server's own. */
  cwd: string | undefined
  closeGraceMs: number
  killGraceMs: number
}>

/** A validated, frozen configuration. */
export type Config = Readonly<{
  /** Where it came from: a file path, or `<command line>`. */
  source: string
  /** The folder relative paths in the configuration are resolved against. */
  baseDir: string
  listen: Readonly<Required<Omit<NonNullable<ConfigInput['listen']>, 'socket'>> & { socket: string | undefined }>
  shutdown: Readonly<{ drainTimeoutMs: number }>
  health: Readonly<Required<NonNullable<ConfigInput['health']>>>
  metrics: Readonly<Required<Omit<NonNullable<ConfigInput['metrics']>, 'port' | 'host'>> & { port: number | undefined, host: string | undefined }>
  /** Whether the dev console is served at `/`. */
  console: boolean
  /** Static files: an absolute folder, a prefix ending in `/`, and where `dir` stands in the source. */
  static: Readonly<{ dir: string, prefix: string, dirAt: Position }> | undefined
  routes: readonly Route[]
  /** The top level's `auth`: the default of the routes, and what the console, files and metrics on the main port require. */
  auth: AuthSpec | null
  /** Server-wide security settings (TLS, proxies, timeouts, session limits). */
  security: ServerSecurity
  /** Extra response headers: on every response, on WebSocket upgrades, on other HTTP responses. */
  headers: Readonly<{ any: Readonly<Record<string, string>>, ws: Readonly<Record<string, string>>, http: Readonly<Record<string, string>> }>
}>

/** How far {@link parseConfig} checks. */
export interface ParseOptions {
  /**
   * The server's environment: when given, each route's program and `cwd` are checked too (as
   * {@link resolveExecutables} will find them), so that one run reports every problem.
   */
  readonly env?: Readonly<Record<string, string | undefined>>
}

const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]*)$/

/**
 * Reads, validates and normalises a YAML configuration file (`file` is resolved against `cwd`).
 * @throws {ConfigError} naming file, line, column and key of every problem.
 */
export async function loadConfigFile (file: string, cwd = process.cwd(), options: ParseOptions = {}): Promise<Config> {
  const path = resolve(cwd, file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code as string
    throw new ConfigError([{ file, line: 1, column: 1, key: '', message: `cannot read the file (${code})` }])
  }
  return parseConfig(text, file, dirname(path), options)
}

/**
 * Validates and normalises a configuration given as YAML text; `source` names it in errors and
 * relative paths resolve against `baseDir`.
 * @throws {ConfigError} naming the line, column and key of every problem.
 */
export function parseConfig (text: string, source: string, baseDir: string, options: ParseOptions = {}): Config {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const where = new PositionFinder(doc, lines)
  const problem = (path: readonly string[], message: string, key = false): ConfigProblem =>
    ({ file: source, ...where.of(path, key), key: path.join('.'), message })

  const syntax = [...doc.errors, ...doc.warnings]
  if (syntax.length > 0) {
    throw new ConfigError(syntax.map((e) => ({ file: source, ...where.at(e.pos[0]), key: '', message: e.message.split('\n')[0] as string })))
  }
  const value: unknown = doc.toJS()
  const schemaProblems = validateSchema(value)
  const problems = schemaProblems.map((p) => problem(p.path, p.message, p.key))
  const input = value as ConfigInput
  // Every problem in one run: the rules beyond the schema, and the programs, are checked on each
  // part whose shape is right, even when other parts are wrong.
  const rootBroken = schemaProblems.some((p) => p.path.length === 0)
  if (!rootBroken && !schemaProblems.some((p) => p.path[0] !== 'routes')) problems.push(...checkSecurity(input, [], problem))
  const routes = rootBroken || schemaProblems.some((p) => p.path.length === 1 && p.path[0] === 'routes')
    ? []
    // An unknown key in a route does not keep its other rules from being checked.
    : Object.entries(input.routes).filter(([path]) => !schemaProblems.some((p) => p.path[0] === 'routes' && p.path[1] === path && (p.path.length === 2 || !p.key)))
  for (const [path, route] of routes) problems.push(...checkRoute(path, route, problem), ...checkSecurity(route, ['routes', path], problem))
  if (schemaProblems.length === 0) problems.push(...checkEndpoints(input, problem))
  if (options.env !== undefined) {
    for (const [path, route] of routes) {
      const cwd = route.cwd === undefined ? undefined : resolve(baseDir, route.cwd)
      const found = checkProgram({ command: route.command, cwd, env: route.env ?? {}, passEnv: route.passEnv ?? DEFAULTS.passEnv }, baseDir, options.env)
      if (found.problem !== undefined) problems.push(problem(['routes', path, ...found.at], found.problem))
    }
  }
  if (problems.length > 0) throw new ConfigError(byPlace(problems))
  return normalise(input, source, baseDir, (path) => where.of(path))
}

/** Route rules a schema cannot express: path syntax, one pattern per parameter, valid patterns. */
function checkRoute (path: string, route: RouteInput, problem: (p: readonly string[], m: string, key?: boolean) => ConfigProblem): ConfigProblem[] {
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
    if (params[name] === undefined) out.push(problem([...at, 'params'], `path parameter :${name} needs a pattern in params`))
  }
  for (const [name, pattern] of Object.entries(params)) {
    if (!names.has(name)) out.push(problem([...at, 'params', name], `is not a parameter of the path ${path}`, true))
    try {
      RegExp(pattern)
    } catch (err) {
      out.push(problem([...at, 'params', name], `invalid regular expression: ${(err as Error).message}`))
    }
  }
  if (/\{[A-Za-z_][A-Za-z0-9_]*\}/.test(route.command[0] as string) && names.size > 0) {
    out.push(problem([...at, 'command', '0'], 'the program itself cannot come from a path parameter'))
  }
  route.command.forEach((arg, i) => {
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
  return out
}

/** Health and metrics paths are served by wsexec itself: no route and no other endpoint may use them. */
function checkEndpoints (input: ConfigInput, problem: (p: readonly string[], m: string, key?: boolean) => ConfigProblem): ConfigProblem[] {
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

function byPlace (problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column)
}

function normalise (input: ConfigInput, source: string, baseDir: string, where: (path: readonly string[]) => Position): Config {
  const auth = defaultAuth(input, baseDir, where)
  const routes = Object.entries(input.routes).map(([path, r]): Route => Object.freeze({
    ...routeSecurity(r, path, input, auth, baseDir, where),
    path,
    executable: r.command[0] as string,
    commandAt: where(['routes', path, 'command', '0']),
    command: Object.freeze([...r.command]),
    params: Object.freeze({ ...r.params }),
    mode: r.mode ?? DEFAULTS.mode,
    stderr: r.stderr ?? DEFAULTS.stderr,
    env: Object.freeze({ ...r.env }),
    passEnv: Object.freeze([...(r.passEnv ?? DEFAULTS.passEnv)]),
    cwd: r.cwd === undefined ? undefined : resolve(baseDir, r.cwd),
    maxLineBytes: r.maxLineBytes ?? DEFAULTS.maxLineBytes,
    closeGraceMs: toMs(r.closeGrace ?? DEFAULTS.closeGrace),
    killGraceMs: toMs(r.killGrace ?? DEFAULTS.killGrace),
    tty: r.tty ?? DEFAULTS.tty,
    ttySize: Object.freeze({ ...(r.ttySize ?? DEFAULTS.ttySize) }),
    ttyControl: r.ttyControl ?? DEFAULTS.ttyControl,
    protocols: Object.freeze([...(r.protocols ?? DEFAULTS.protocols)]),
    pathInfo: r.pathInfo ?? false
  }))
  return Object.freeze({
    source,
    baseDir,
    listen: Object.freeze({
      host: input.listen?.host ?? DEFAULTS.host,
      port: input.listen?.port ?? DEFAULTS.port,
      socket: input.listen?.socket === undefined ? undefined : resolve(baseDir, input.listen.socket)
    }),
    shutdown: Object.freeze({ drainTimeoutMs: toMs(input.shutdown?.drainTimeout ?? DEFAULTS.drainTimeout) }),
    health: Object.freeze({ live: input.health?.live ?? DEFAULTS.livePath, ready: input.health?.ready ?? DEFAULTS.readyPath }),
    metrics: Object.freeze({
      enabled: input.metrics?.enabled ?? true,
      path: input.metrics?.path ?? DEFAULTS.metricsPath,
      port: input.metrics?.port,
      host: input.metrics?.host
    }),
    console: input.console ?? DEFAULTS.console,
    static: input.static === undefined
      ? undefined
      : Object.freeze({ dir: resolve(baseDir, input.static.dir), prefix: withSlash(input.static.prefix ?? DEFAULTS.staticPrefix), dirAt: where(['static', 'dir']) }),
    routes: Object.freeze(routes),
    auth,
    security: serverSecurity(input, baseDir, where),
    headers: Object.freeze({
      any: Object.freeze({ ...input.headers?.any }),
      ws: Object.freeze({ ...input.headers?.ws }),
      http: Object.freeze({ ...input.headers?.http })
    })
  })
}

function withSlash (prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`
}
