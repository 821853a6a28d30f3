import { findAccount, readAccounts, type Account, type Accounts } from '../config/accounts.js'
import type { RunAs } from '../config/containment.js'
import type { Identity } from './auth.js'

/**
 * The local account a `user: "{REMOTE_USER}"` session runs as: the one named exactly like the
 * authenticated user, read from the databases now (accounts made after start-up count); undefined
 * when there is none, or it is root or below `minUid`, or the databases cannot be read.
 */
export async function sessionAccount (runAs: RunAs, identity: Identity, read: () => Promise<Accounts> = readAccounts): Promise<Account | undefined> {
  let db: Accounts
  try {
    db = await read()
  } catch {
    return undefined
  }
  const account = findAccount(db, identity.name)
  return account === undefined || account.uid === 0 || account.uid < runAs.minUid ? undefined : account
}
