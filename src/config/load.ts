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
import { DEFAULTS, type ConfigInput } from './schema.js'
import { checkSecurity } from './security.js'
import { validateSchema } from './validate.js'

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
  // Every problem in one run: the rules beyond the schema, and the programs, are checked on each
  // part whose shape is right, even when other parts are wrong.
  const rootBroken = schemaProblems.some((p) => p.path.length === 0)
  if (!rootBroken && !schemaProblems.some((p) => p.path[0] !== 'routes')) problems.push(...checkSecurity(input, [], problem), ...checkContainment(input, [], problem))
  const routes = rootBroken || schemaProblems.some((p) => p.path.length === 1 && p.path[0] === 'routes')
    ? []
    // An unknown key in a route does not keep its other rules from being checked.
    : Object.entries(input.routes).filter(([path]) => !schemaProblems.some((p) => p.path[0] === 'routes' && p.path[1] === path && (p.path.length === 2 || !p.key)))
  for (const [path, route] of routes) problems.push(...checkRoute(path, route, problem), ...checkSecurity(route, ['routes', path], problem, input.trustProxy), ...checkContainment(route, ['routes', path], problem, input))
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

function byPlace (problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column)
}
