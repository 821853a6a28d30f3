import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import { ConfigError, type ConfigProblem } from '../errors.js'
import type { Config, Route } from './model.js'

/** The search path a program gets when its environment has no PATH (glibc's default). */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'

/** What finding a route's program needs: its argv, absolute `cwd` (if any) and environment settings. */
export interface ProgramSpec {
  readonly command: readonly string[]
  readonly cwd: string | undefined
  readonly env: Readonly<Record<string, string>>
  readonly passEnv: readonly string[]
}

/** The program found (an absolute path), or the problem and the key under the route it is about. */
export type ProgramCheck = { path: string, problem?: never, at?: never } | { path?: never, problem: string, at: readonly string[] }

/**
 * Finds a route's program the way it will be started: a name is searched in the PATH the
 * program gets, a relative path starts at the route's `cwd` or else `baseDir`. Checks `cwd` too.
 */
export function checkProgram (route: ProgramSpec, baseDir: string, serverEnv: Readonly<Record<string, string | undefined>>): ProgramCheck {
  if (route.cwd !== undefined && !isFolder(route.cwd)) return { problem: `${route.cwd} is not a folder`, at: ['cwd'] }
  const found = findProgram(route.command[0] as string, route.cwd ?? baseDir, childPath(route, serverEnv))
  return found.path === undefined ? { problem: found.problem, at: ['command', '0'] } : { path: found.path }
}

/**
 * Resolves every route's program to an absolute path with {@link checkProgram}. Also checks that
 * `static.dir` is a folder.
 * @throws {ConfigError} naming each route whose program is missing or not executable.
 */
export async function resolveExecutables (config: Config, serverEnv: Readonly<Record<string, string | undefined>>): Promise<Config> {
  const problems: ConfigProblem[] = []
  const routes = config.routes.map((route): Route => {
    const found = checkProgram(route, config.baseDir, serverEnv)
    if (found.path === undefined) {
      problems.push({ file: config.source, ...route.commandAt, key: ['routes', route.path, ...found.at].join('.'), message: found.problem })
      return route
    }
    return Object.freeze({ ...route, executable: found.path })
  })
  if (config.static !== undefined && !isFolder(config.static.dir)) {
    problems.push({ file: config.source, ...config.static.dirAt, key: 'static.dir', message: `${config.static.dir} is not a folder` })
  }
  if (problems.length > 0) throw new ConfigError(problems.sort((a, b) => a.line - b.line))
  return Object.freeze({ ...config, routes: Object.freeze(routes) })
}

function childPath (route: ProgramSpec, serverEnv: Readonly<Record<string, string | undefined>>): string {
  return route.env['PATH'] ?? (route.passEnv.includes('PATH') ? serverEnv['PATH'] : undefined) ?? DEFAULT_PATH
}

function findProgram (name: string, base: string, searchPath: string): { path: string, problem?: never } | { path?: never, problem: string } {
  if (name.includes('/')) {
    const path = isAbsolute(name) ? name : resolve(base, name)
    const problem = checkExecutable(path)
    return problem === undefined ? { path } : { problem: `${path} ${problem}` }
  }
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue
    const path = join(resolve(base, dir), name)
    if (checkExecutable(path) === undefined) return { path }
  }
  return { problem: `program ${JSON.stringify(name)} not found in PATH ${searchPath}` }
}

// Synchronous on purpose: it runs once at start-up (or reload), for a handful of routes.
function checkExecutable (path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a file'
    accessSync(path, constants.X_OK)
    return undefined
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'is not executable' : 'does not exist'
  }
}

function isFolder (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
