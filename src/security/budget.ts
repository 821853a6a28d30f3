import { readdirSync, readFileSync } from 'node:fs'

/** Descriptors one session holds in the server: its socket and its program's three pipes (or a terminal). */
export const PER_SESSION = 4

/**
 * Descriptors kept free beyond those open at start-up and the spawners' channels: the listening
 * sockets, libuv's own (epoll, eventfds, its thread pool's files), the check before each start
 * (see `session/descriptors.ts`: 12), /healthz and /metrics requests, a connection being
 * refused, files a reload reads, log destinations.
 */
export const RESERVE = 40

/** What the descriptor limit allows: the limit, what is kept for the server itself, and the sessions and connections that fit. */
export interface DescriptorBudget {
  /** The soft RLIMIT_NOFILE. */
  readonly limit: number
  /** Descriptors kept for the server itself (open at start-up, spawners' channels, {@link RESERVE}). */
  readonly reserved: number
  /** Sessions that fit when every connection beside a session is one waiting for its answer. */
  readonly maxSessions: number
}

/** The effective server-wide limits: the configured ones within the budget. */
export interface EffectiveLimits {
  readonly maxSessions: number
  readonly maxConnections: number
  /** True when a configured limit was higher than the budget allows. */
  readonly capped: boolean
}

/** The soft descriptor limit from the text of `/proc/self/limits`; undefined when it is `unlimited` or not there. */
export function softLimit (limits: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1]
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft)
}

/**
 * The budget of `limit` descriptors for a server with `open` descriptors already open and
 * `spawners` spawner channels to come. A session costs {@link PER_SESSION}, and the default
 * connection cap is two per session (a refused client's connection for each admitted one).
 */
export function budgetFor (limit: number, open: number, spawners: number): DescriptorBudget {
  const reserved = open + spawners + RESERVE
  const room = Math.max(0, limit - reserved)
  // At least one: 0 would read as "no limit".
  return Object.freeze({ limit, reserved, maxSessions: Math.max(1, Math.floor(room / (PER_SESSION + 1))) })
}

/**
 * This process's budget, read from `/proc/self/limits` and `/proc/self/fd` (Linux; `proc` is
 * `/proc/self`); undefined where they cannot be read or the limit is `unlimited`: the configured
 * limits apply as they are.
 */
export function readBudget (spawners: number, proc = '/proc/self'): DescriptorBudget | undefined {
  let limit: number | undefined
  let open: number
  try {
    limit = softLimit(readFileSync(`${proc}/limits`, 'utf8'))
    // The listing's own descriptor is in it.
    open = readdirSync(`${proc}/fd`).length - 1
  } catch {
    return undefined
  }
  return limit === undefined ? undefined : budgetFor(limit, open, spawners)
}

/**
 * The server-wide limits in effect: `maxSessions` (0: no limit) and `maxConnections` (Infinity:
 * no limit) as configured, lowered to what `budget` allows; the connections get what the
 * sessions leave.
 */
export function effectiveLimits (configured: { maxSessions: number, maxConnections: number }, budget: DescriptorBudget | undefined): EffectiveLimits {
  if (budget === undefined) return { maxSessions: configured.maxSessions, maxConnections: configured.maxConnections, capped: false }
  const wanted = configured.maxSessions === 0 ? Infinity : configured.maxSessions
  const maxSessions = Math.min(wanted, budget.maxSessions)
  const connections = Math.max(1, budget.limit - budget.reserved - (PER_SESSION - 1) * maxSessions)
  const maxConnections = Math.min(configured.maxConnections, connections)
  return { maxSessions, maxConnections, capped: maxSessions < wanted || maxConnections < configured.maxConnections }
}

/** The descriptor limit the configured limits need (undefined when one of them is unlimited). */
export function limitNeeded (configured: { maxSessions: number, maxConnections: number }, budget: DescriptorBudget): number | undefined {
  if (configured.maxSessions === 0 || configured.maxConnections === Infinity) return undefined
  return budget.reserved + (PER_SESSION - 1) * configured.maxSessions + Math.max(configured.maxConnections, configured.maxSessions)
}

/**
 * The fields of the start-up warning when the configured limits are beyond the budget: the limit,
 * what fits, and how to raise it (shell, systemd, container).
 */
export function budgetWarning (configured: { maxSessions: number, maxConnections: number }, budget: DescriptorBudget, limits: EffectiveLimits): Record<string, unknown> {
  const needed = limitNeeded(configured, budget) ?? 65536
  return {
    descriptorLimit: budget.limit,
    reserved: budget.reserved,
    maxSessions: limits.maxSessions,
    maxConnections: limits.maxConnections,
    configured: { maxSessions: configured.maxSessions, maxConnections: configured.maxConnections },
    raise: `ulimit -n ${needed} (shell), LimitNOFILE=${needed} (systemd), --ulimit nofile=${needed} (docker)`
  }
}
