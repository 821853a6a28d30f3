import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import { ConfigError, type ConfigProblem } from '../errors.js'
import type { Config, Route } from './load.js'

/** The search path a program gets when its environment has no PATH (glibc's default). */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'

/**
 * Resolves every route's program to an absolute path, the way the program will be found: a
 * name is searched in the PATH the program gets, a relative path starts at the route's `cwd`
 * or else the configuration's folder. Also checks each `cwd`, and `static.dir`, is a folder.
 * @throws {ConfigError} naming each route whose program is missing or not executable.
 */
export async function resolveExecutables (config: Config, serverEnv: Readonly<Record<string, string | undefined>>): Promise<Config> {
  const problems: ConfigProblem[] = []
  const routes = await Promise.all(config.routes.map(async (route): Promise<Route> => {
    const at = { file: config.source, ...route.commandAt }
    if (route.cwd !== undefined && !(await isFolder(route.cwd))) {
      problems.push({ ...at, key: `routes.${route.path}.cwd`, message: `${route.cwd} is not a folder` })
      return route
    }
    const name = route.command[0] as string
    const found = await findProgram(name, route.cwd ?? config.baseDir, childPath(route, serverEnv))
    if (found.path === undefined) {
      problems.push({ ...at, key: `routes.${route.path}.command.0`, message: found.problem })
      return route
    }
    return Object.freeze({ ...route, executable: found.path })
  }))
  if (config.static !== undefined && !(await isFolder(config.static.dir))) {
    problems.push({ file: config.source, ...config.static.dirAt, key: 'static.dir', message: `${config.static.dir} is not a folder` })
  }
  if (problems.length > 0) throw new ConfigError(problems.sort((a, b) => a.line - b.line))
  return Object.freeze({ ...config, routes: Object.freeze(routes) })
}

function childPath (route: Route, serverEnv: Readonly<Record<string, string | undefined>>): string {
  return route.env['PATH'] ?? (route.passEnv.includes('PATH') ? serverEnv['PATH'] : undefined) ?? DEFAULT_PATH
}

async function findProgram (name: string, base: string, searchPath: string): Promise<{ path: string, problem?: never } | { path?: never, problem: string }> {
  if (name.includes('/')) {
    const path = isAbsolute(name) ? name : resolve(base, name)
    const problem = await checkExecutable(path)
    return problem === undefined ? { path } : { problem: `${path} ${problem}` }
  }
  for (const dir of searchPath.split(delimiter)) {
    if (dir === '') continue
    const path = join(resolve(base, dir), name)
    if (await checkExecutable(path) === undefined) return { path }
  }
  return { problem: `program ${JSON.stringify(name)} not found in PATH ${searchPath}` }
}

async function checkExecutable (path: string): Promise<string | undefined> {
  try {
    if (!(await stat(path)).isFile()) return 'is not a file'
    await access(path, constants.X_OK)
    return undefined
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'is not executable' : 'does not exist'
  }
}

async function isFolder (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
