import { ConfigError, type ConfigProblem } from '../errors.js'
import { readAccounts } from './accounts.js'
import { findTool, resolveContainment, type Host } from './containment.js'
import type { Config, Route } from './model.js'

/** The server's own process: its uid and gid, the account files, the tool folders. */
export function processHost (): Host {
  /* c8 ignore next -- getuid and getgid exist on every POSIX system; wsexec runs on no other */
  const uid = process.getuid?.() ?? 0
  /* c8 ignore next -- as above */
  const gid = process.getgid?.() ?? 0
  return { uid, gid, accounts: readAccounts, tool: findTool }
}

/**
 * Makes every route's containment ready with {@link resolveContainment}: accounts looked up,
 * prlimit and setpriv found, the argv prefix built.
 * @throws {ConfigError} naming each `user`, `group` or `rlimits` that cannot be had.
 */
export async function resolveContainments (config: Config, host: Host = processHost()): Promise<Config> {
  const problems: ConfigProblem[] = []
  const seen = new Set<string>()
  const fail = (key: string, at: { line: number, column: number }, message: string): void => {
    // A top-level setting inherited by several routes is reported once.
    const text = `${key}: ${message}`
    if (seen.has(text)) return
    seen.add(text)
    problems.push({ file: config.source, line: at.line, column: at.column, key, message })
  }
  let read: ReturnType<Host['accounts']> | undefined
  // The account files are read once, by the first route that needs them.
  const once: Host = { ...host, accounts: async () => await (read ??= host.accounts()) }
  const routes: Route[] = []
  for (const route of config.routes) {
    routes.push(Object.freeze({ ...route, containment: await resolveContainment(route.containment, once, route.auth !== null, fail) }))
  }
  if (problems.length > 0) throw new ConfigError(problems.sort((a, b) => a.line - b.line || a.column - b.column))
  return Object.freeze({ ...config, routes: Object.freeze(routes) })
}
