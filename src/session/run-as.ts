// How a session's program is wrapped: the route's argv prefix (util-linux prlimit, then setpriv
// for a fixed account) and, on a `{REMOTE_USER}` route, setpriv for the session's own account.
// Both tools exec the program in place, so the pid (and process group) is the program's.
import type { Account } from '../config/accounts.js'
import { setprivArgs } from '../config/containment.js'
import type { Route } from '../config/load.js'

/** The file to start and its arguments: the program's own, behind the route's prefix and `account`'s switch. */
export function launchArgv (route: Route, args: readonly string[], account: Account | undefined): { file: string, args: string[] } {
  const { prefix, setpriv } = route.containment
  const wrap = account === undefined || route.containment.account !== null ? prefix : [...prefix, ...setprivArgs(setpriv, account)]
  if (wrap.length === 0) return { file: route.executable, args: [...args] }
  return { file: wrap[0] as string, args: [...wrap.slice(1), route.executable, ...args] }
}

/** HOME, USER and LOGNAME of the account a session's program runs as, from the password database. */
export function accountEnvironment (account: Account): Record<string, string> {
  return { HOME: account.home, USER: account.name, LOGNAME: account.name }
}
