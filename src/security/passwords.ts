import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Piscina } from 'piscina'
import type { PasswordCheck } from './password-worker.js'

/** Idle worker threads of the password pool end after this long (ms). */
export const PASSWORD_WORKER_IDLE_MS = 30_000

// The worker next to this module: password-worker.js once built, .ts when run from the sources.
const WORKER = new URL(`./password-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

let pool: Piscina<PasswordCheck, boolean> | undefined

/**
 * Whether `password` matches the bcrypt `hash`, computed in a worker thread so the event loop
 * stays free. At most half the cores (at least one) compare at once; the others wait in line.
 */
export async function comparePassword (password: string, hash: string): Promise<boolean> {
  // Loaded with the first password check: servers without passwords never need it.
  const { Piscina } = await import('piscina')
  pool ??= new Piscina<PasswordCheck, boolean>({
    filename: WORKER.href,
    minThreads: 0,
    maxThreads: Math.max(1, Math.floor(availableParallelism() / 2)),
    idleTimeout: PASSWORD_WORKER_IDLE_MS
  })
  return pool.run({ password, hash })
}
