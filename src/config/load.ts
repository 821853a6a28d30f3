import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { ConfigError, type ConfigProblem } from '../errors.js'
import { checkContainment } from './containment.js'
import { checkProgram } from './executables.js'
import type { Config } from './model.js'
import { normalise } from './normalise.js'
import { PositionFinder } from './positions.js'
import { checkEndpoints, checkRoute } from './rules.js'
import { DEFAULTS, type ConfigInput, type RouteInput } from './schema.js'
import { checkSecurity } from './security.js'
import { validateSchema, type SchemaProblem } from './validate.js'

export type { Config, Route } from './model.js'

/** How far {@link parseConfig} checks. */
export interface ParseOptions {
  /**
   * The server's environment: when given, each route's program and `cwd` are checked too (as
   * `resolveExecutables` will find them), so that one run reports every problem.
   */
  readonly env?: Readonly<Record<string, string | undefined>>
}

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
  // Every problem in one run: the rules beyond the schema, and the programs, are checked on every
  // part whose shape is right, even when other parts (or other keys of the same route) are wrong.
  const top = soundPart(input, [], schemaProblems.filter((p) => p.path[0] !== 'routes'))
  if (top !== undefined) problems.push(...checkSecurity(top, [], problem), ...checkContainment(top, [], problem))
  const routes = top === undefined || schemaProblems.some((p) => p.path.length === 1 && p.path[0] === 'routes')
    ? []
    : Object.entries(input.routes).flatMap(([path, route]) => {
      const sound = soundPart(route, ['routes', path], schemaProblems)
      return sound === undefined ? [] : [[path, sound] as const]
    })
  for (const [path, route] of routes) problems.push(...checkRoute(path, route, problem, Object.keys((input.routes[path] as RouteInput).params ?? {})), ...checkSecurity(route, ['routes', path], problem, input.trustProxy), ...checkContainment(route, ['routes', path], problem, input))
  const endpointsSound = !schemaProblems.some((p) => p.path[0] === 'health' || p.path[0] === 'metrics')
  if (top !== undefined && routes.length > 0 && endpointsSound) problems.push(...checkEndpoints({ ...top, routes: input.routes }, problem))
  if (options.env !== undefined) {
    for (const [path, route] of routes) {
      if (route.command === undefined) continue
      const cwd = route.cwd === undefined ? undefined : resolve(baseDir, route.cwd)
      const found = checkProgram({ command: route.command, cwd, env: route.env ?? {}, passEnv: route.passEnv ?? DEFAULTS.passEnv }, baseDir, options.env)
      if (found.problem !== undefined) problems.push(problem(['routes', path, ...found.at], found.problem))
    }
  }
  if (problems.length > 0) throw new ConfigError(byPlace(problems))
  return normalise(input, source, baseDir, (path) => where.of(path))
}

/**
 * The keys of the object at `at` whose values the schema accepts (those with a problem at or
 * under them left out, as an unknown key is), so that its other rules can still be checked;
 * undefined when the object itself, or its key, is wrong.
 */
function soundPart<T extends object> (value: T, at: readonly string[], problems: readonly SchemaProblem[]): Partial<T> | undefined {
  const sound: Partial<T> = { ...value }
  for (const p of problems) {
    if (!at.every((segment, i) => p.path[i] === segment)) continue
    if (p.path.length === at.length) return undefined
    delete sound[p.path[at.length] as keyof T]
  }
  return sound
}

function byPlace (problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column)
}
