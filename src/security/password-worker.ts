import bcrypt from 'bcryptjs'

/** What one check compares: a password as sent and a bcrypt hash. */
export interface PasswordCheck {
  readonly password: string
  readonly hash: string
}

/** Runs in a worker thread of the password pool: whether `password` matches `hash`. */
export default function comparePassword ({ password, hash }: PasswordCheck): boolean {
  return bcrypt.compareSync(password, hash)
}
