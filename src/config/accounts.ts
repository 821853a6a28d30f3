import { readFile } from 'node:fs/promises'

/** A local account as the password and group databases describe it. */
export interface Account {
  readonly name: string
  readonly uid: number
  /** The account's primary group. */
  readonly gid: number
  readonly home: string
  /** Every group the account belongs to: its primary group and the groups that list it as a member. */
  readonly groups: readonly number[]
}

/** The password and group databases, as read from `/etc/passwd` and `/etc/group`. */
export interface Accounts {
  readonly users: ReadonlyArray<Readonly<{ name: string, uid: number, gid: number, home: string }>>
  readonly groups: ReadonlyArray<Readonly<{ name: string, gid: number, members: readonly string[] }>>
}

/** Where {@link readAccounts} reads by default (glibc's files service; no NSS modules such as LDAP). */
export const ACCOUNT_FILES = Object.freeze({ passwd: '/etc/passwd', group: '/etc/group' })

function fields (text: string, count: number): string[][] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':')).filter((f) => f.length >= count)
}

const ID = /^[0-9]+$/

/** Parses passwd(5) and group(5) text; malformed lines are skipped, as glibc does. */
export function parseAccounts (passwd: string, group: string): Accounts {
  const users = fields(passwd, 7).filter((f) => ID.test(f[2] as string) && ID.test(f[3] as string))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] as string }))
  const groups = fields(group, 4).filter((f) => ID.test(f[2] as string))
    .map((f) => ({ name: f[0] as string, gid: Number(f[2]), members: (f[3] as string).split(',').filter((m) => m !== '') }))
  return { users, groups }
}

/** Reads the account databases (see {@link ACCOUNT_FILES}). @throws when a file cannot be read. */
export async function readAccounts (files: Readonly<{ passwd: string, group: string }> = ACCOUNT_FILES): Promise<Accounts> {
  const [passwd, group] = await Promise.all([readFile(files.passwd, 'utf8'), readFile(files.group, 'utf8')])
  return parseAccounts(passwd, group)
}

/** The account named `user` (or with that uid), its groups included; undefined when there is none. */
export function findAccount (db: Accounts, user: string | number): Account | undefined {
  const found = db.users.find(typeof user === 'number' ? (u) => u.uid === user : (u) => u.name === user)
  if (found === undefined) return undefined
  const groups = new Set([found.gid])
  for (const g of db.groups) if (g.members.includes(found.name)) groups.add(g.gid)
  return Object.freeze({ ...found, groups: Object.freeze([...groups]) })
}

/** The gid of the group named `group`, or `group` itself when it is a number; undefined for an unknown name. */
export function findGroup (db: Accounts, group: string | number): number | undefined {
  return typeof group === 'number' ? group : db.groups.find((g) => g.name === group)?.gid
}
