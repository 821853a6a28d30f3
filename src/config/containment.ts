import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import type { ConfigProblem } from '../errors.js'
import { findAccount, findGroup, type Account, type Accounts } from './accounts.js'
import { CONTAINMENT_DEFAULTS, REMOTE_USER_ACCOUNT, type ContainmentInput } from './containment-schema.js'
import { toMs } from './duration.js'
import type { Position } from './positions.js'
import { toBytes } from './size.js'

/** Where the util-linux tools are looked for: fixed folders, never the server's PATH. */
export const TOOL_FOLDERS: readonly string[] = Object.freeze(['/usr/bin', '/bin', '/usr/sbin', '/sbin'])

/** Whom a route's programs run as, as written: `user` a name, a uid or `{REMOTE_USER}`. */
export type RunAs = Readonly<{
  user: string | number
  /** The primary group instead of the account's own, or undefined. */
  group: string | number | undefined
  /** `{REMOTE_USER}`: the lowest uid an authenticated user's account may have. */
  minUid: number
  /** The dotted key of `user` (or `group`, for its problems) and where each is written. */
  key: string
  at: Position
  groupKey: string
  groupAt: Position
}>

/** A route's resource limits: seconds for `cpu`, bytes for the sizes; undefined: not limited. */
export type Rlimits = Readonly<{ cpu?: number, memory?: number, files?: number, processes?: number, fileSize?: number, core?: number }>

/** A route's containment: whom its programs run as and their limits; `loadConfig` fills in `prefix` and `account`. */
export type Containment = Readonly<{
  runAs: RunAs | null
  rlimits: Rlimits | null
  rlimitsKey: string
  rlimitsAt: Position
  /** The argv put before the program's (prlimit, and setpriv for a fixed account): empty for none. */
  prefix: readonly string[]
  /** The fixed account the programs run as (HOME, USER, LOGNAME), or null (none, or `{REMOTE_USER}`). */
  account: Account | null
  /** setpriv's path, for `{REMOTE_USER}` routes (empty otherwise). */
  setpriv: string
}>

type Where = (path: readonly string[]) => Position

/** True when the route runs each session as the account of its authenticated user. */
export function perUser (runAs: RunAs | null): boolean {
  return runAs?.user === REMOTE_USER_ACCOUNT
}

/**
 * A route's containment from its settings and the top level's (each key its own, else the top
 * level's; `rlimits` merged key by key), before any account or tool is looked up.
 */
export function routeContainment (route: ContainmentInput, path: string, top: ContainmentInput, where: Where): Containment {
  const keyOf = (name: keyof ContainmentInput): string[] => route[name] !== undefined || top[name] === undefined ? ['routes', path, name] : [name]
  const user = route.user ?? top.user
  const rlimits = route.rlimits === undefined && top.rlimits === undefined ? undefined : { ...top.rlimits, ...route.rlimits }
  const limits: Record<string, number> = {}
  if (rlimits !== undefined) {
    for (const [name, value] of Object.entries(rlimits)) {
      limits[name] = name === 'cpu' ? Math.ceil(toMs(value) / 1000) : name === 'files' || name === 'processes' ? value as number : toBytes(value)
    }
  }
  return Object.freeze({
    runAs: user === undefined
      ? null
      : Object.freeze({
        user,
        group: route.group ?? top.group,
        minUid: route.minUid ?? top.minUid ?? CONTAINMENT_DEFAULTS.minUid,
        key: keyOf('user').join('.'),
        at: where(keyOf('user')),
        groupKey: keyOf('group').join('.'),
        groupAt: where(keyOf('group'))
      }),
    rlimits: rlimits === undefined ? null : Object.freeze(limits),
    rlimitsKey: keyOf('rlimits').join('.'),
    rlimitsAt: where(keyOf('rlimits')),
    prefix: Object.freeze([]),
    account: null,
    setpriv: ''
  })
}

/** Containment rules a schema cannot express, for the top level (`at` empty) or one route (`inherited`: the top level's settings). */
export function checkContainment (input: ContainmentInput, at: readonly string[], problem: (path: readonly string[], message: string) => ConfigProblem, inherited: ContainmentInput = {}): ConfigProblem[] {
  const out: ConfigProblem[] = []
  const user = input.user ?? inherited.user
  if (input.group !== undefined && user === undefined) out.push(problem([...at, 'group'], 'group needs user'))
  if (input.group !== undefined && user === REMOTE_USER_ACCOUNT) out.push(problem([...at, 'group'], `${REMOTE_USER_ACCOUNT} runs each session with its account's own groups: remove group`))
  if (input.rlimits?.cpu !== undefined && toMs(input.rlimits.cpu) === 0) out.push(problem([...at, 'rlimits', 'cpu'], 'must be at least 1s'))
  return out
}

/** The prlimit arguments of `limits`: soft and hard the same, but CPU's hard limit a second later (SIGXCPU first, then SIGKILL). */
export function prlimitArgs (prlimit: string, limits: Rlimits): string[] {
  const args = [prlimit]
  const both = (option: string, value: number | undefined): void => { if (value !== undefined) args.push(`--${option}=${value}:${value}`) }
  // With soft = hard the kernel sends SIGKILL at once: a second between them lets SIGXCPU come first.
  if (limits.cpu !== undefined) args.push(`--cpu=${limits.cpu}:${limits.cpu + 1}`)
  both('as', limits.memory)
  both('nofile', limits.files)
  both('nproc', limits.processes)
  both('fsize', limits.fileSize)
  both('core', limits.core)
  args.push('--')
  return args
}

/** The setpriv arguments that run a program as `account` with primary group `gid` and the account's own groups (besides `gid`) only. */
export function setprivArgs (setpriv: string, account: Account, gid: number = account.gid): string[] {
  const groups = [...new Set([gid, ...account.groups])]
  return [setpriv, `--reuid=${account.uid}`, `--regid=${gid}`, `--groups=${groups.join(',')}`, '--']
}

/** The first of {@link TOOL_FOLDERS} holding an executable `name`, or undefined. */
export function findTool (name: string, folders: readonly string[] = TOOL_FOLDERS): string | undefined {
  for (const dir of folders) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

/** Who the server runs as, and where its tools are: what {@link resolveContainment} checks against. */
export interface Host {
  readonly uid: number
  readonly gid: number
  readonly accounts: () => Promise<Accounts>
  readonly tool: (name: string) => string | undefined
}

type Fail = (key: string, at: Position, message: string) => void

/**
 * A route's containment made ready: the account looked up, prlimit and setpriv found, the argv
 * prefix built. Reports (through `fail`) an unknown account or group, a missing tool, and an
 * account other than the server's own when the server is not root.
 */
export async function resolveContainment (c: Containment, host: Host, hasAuth: boolean, fail: Fail): Promise<Containment> {
  let prefix: string[] = []
  if (c.rlimits !== null) {
    const prlimit = host.tool('prlimit')
    if (prlimit === undefined) fail(c.rlimitsKey, c.rlimitsAt, `needs util-linux prlimit, found in none of ${TOOL_FOLDERS.join(', ')}`)
    else prefix = prlimitArgs(prlimit, c.rlimits)
  }
  const { runAs } = c
  if (runAs === null) return Object.freeze({ ...c, prefix: Object.freeze(prefix) })
  const setpriv = host.uid === 0 ? host.tool('setpriv') : ''
  if (setpriv === undefined) fail(runAs.key, runAs.at, `needs util-linux setpriv, found in none of ${TOOL_FOLDERS.join(', ')}`)
  if (perUser(runAs)) {
    if (host.uid !== 0) fail(runAs.key, runAs.at, `wsexec runs as uid ${host.uid}, not root: it cannot run sessions as their users' accounts`)
    if (!hasAuth) fail(runAs.key, runAs.at, `${REMOTE_USER_ACCOUNT} needs auth: a session without a user has no account`)
    return Object.freeze({ ...c, prefix: Object.freeze(prefix), setpriv: setpriv ?? '' })
  }
  let db: Accounts
  try {
    db = await host.accounts()
  } catch (err) {
    fail(runAs.key, runAs.at, `cannot read the account databases (${(err as NodeJS.ErrnoException).code as string})`)
    return c
  }
  const account = findAccount(db, runAs.user)
  if (account === undefined) {
    fail(runAs.key, runAs.at, `no account ${JSON.stringify(runAs.user)} in /etc/passwd`)
    return c
  }
  const gid = runAs.group === undefined ? account.gid : findGroup(db, runAs.group)
  if (gid === undefined) {
    fail(runAs.groupKey, runAs.groupAt, `no group ${JSON.stringify(runAs.group)} in /etc/group`)
    return c
  }
  if (host.uid !== 0) {
    if (account.uid !== host.uid || gid !== host.gid) {
      fail(runAs.key, runAs.at, `wsexec runs as uid ${host.uid} gid ${host.gid}, not root: it cannot run programs as ${account.name} (uid ${account.uid} gid ${gid})`)
    }
    // The server's own account: nothing to switch, HOME, USER and LOGNAME still set.
    return Object.freeze({ ...c, prefix: Object.freeze(prefix), account })
  }
  return Object.freeze({ ...c, prefix: Object.freeze([...prefix, ...setprivArgs(setpriv as string, account, gid)]), account })
}
