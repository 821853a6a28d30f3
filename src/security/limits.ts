/** Why a session was not admitted: the server or the route is full, or the client has too many. */
export type LimitRefusal = 'server' | 'route' | 'client'

/** A place held for one session; `release()` gives it back (calling it again does nothing). */
export interface Admission {
  release (): void
}

/** The limits one admission is checked against; 0 means no limit. */
export interface SessionLimits {
  readonly maxSessions: number
  readonly maxSessionsPerClient: number
}

function add (counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}

/**
 * Counts sessions (and upgrades in progress) server-wide, per route, per client and per client on
 * each route, and admits a new one only while every limit allows it.
 */
export class SessionCounter {
  #server: SessionLimits
  #total = 0
  readonly #counts = new Map<string, number>()

  constructor (server: SessionLimits) {
    this.#server = server
  }

  /** Sessions counted now. */
  get size (): number {
    return this.#total
  }

  /** New server-wide limits for the admissions that follow (after a reload); places already held stay. */
  setServerLimits (limits: SessionLimits): void {
    this.#server = limits
  }

  /** Holds a place for a session of `route` (its path) from `client` (an address), or says which limit refuses it. */
  admit (route: string, limits: SessionLimits, client: string): Admission | LimitRefusal {
    const keys = [`r ${route}`, `c ${client}`, `rc ${route} ${client}`]
    const [r, c, rc] = keys.map((k) => this.#counts.get(k) ?? 0) as [number, number, number]
    if (this.#server.maxSessions > 0 && this.#total >= this.#server.maxSessions) return 'server'
    if (limits.maxSessions > 0 && r >= limits.maxSessions) return 'route'
    if (c >= this.#server.maxSessionsPerClient) return 'client'
    if (limits.maxSessionsPerClient > 0 && rc >= limits.maxSessionsPerClient) return 'client'
    this.#total++
    for (const k of keys) add(this.#counts, k, 1)
    let held = true
    return {
      release: () => {
        if (!held) return
        held = false
        this.#total--
        for (const k of keys) add(this.#counts, k, -1)
      }
    }
  }
}
