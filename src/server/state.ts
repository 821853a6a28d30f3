import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { LoadedConfig, LoadedRoute } from '../config/model.js'
import { AuthFailures } from '../security/failures.js'
import type { Pass } from '../security/guard.js'
import { budgetWarning, effectiveLimits, readBudget, type DescriptorBudget, type EffectiveLimits } from '../security/budget.js'
import { SessionCounter } from '../security/limits.js'
import { routeEnvironments } from '../session/env.js'
import type { SpawnerPool } from '../spawner/pool.js'
import type { ConnectionCap } from './connection-cap.js'
import { FastReceive } from '../session/receive.js'
import type { ServedSession } from '../session/served.js'
import type { Session } from '../session/session.js'
import type { SharedPrograms } from '../session/shared.js'
import { Lines } from '../session/wire/lines.js'
import { OutputBuffer } from '../session/wire/output-buffer.js'
import { splitUrl } from '../url.js'
import { Metrics } from './metrics.js'
import { compileRoutes, type RouteMatch, type RouteTable } from './routes.js'

/** The live state of a server and what operations can do with it (`app.wsexec`). */
export interface WsexecState {
  /**
   * The sessions running now. Clients of shared routes are in it too: they have the members of
   * `ServedSession` only (typed as Session so that existing users keep compiling).
   */
  readonly sessions: ReadonlySet<Session>
  /** The configuration new sessions get. */
  readonly config: LoadedConfig
  /** True from the start of a drain on: readiness fails and new upgrades get 503. */
  readonly draining: boolean
  readonly metrics: Metrics
  /** The server for metrics on their own port (`metrics.port`), not listening yet; else undefined. */
  readonly metricsServer: FastifyInstance | undefined
  /** New sessions get `config` (routes resolved); running sessions keep theirs. */
  reload (config: LoadedConfig): void
  /**
   * Stops accepting sessions, lets running ones finish for up to `timeoutMs` (default
   * `shutdown.drainTimeout`; sessions whose program never started are not waited for), then
   * closes the rest with 1001 and ends their processes. Always ends: see {@link closeSessions}.
   */
  drain (timeoutMs?: number): Promise<void>
  /** Ends every session at once (1001, SIGKILL, connection dropped); a drain under way stops waiting. */
  kill (): void
}

declare module 'fastify' {
  interface FastifyInstance {
    wsexec: WsexecState
  }
  interface FastifyRequest {
    wsexecMatch: RouteMatch<LoadedRoute> | null
    wsexecPass: Pass | null
  }
}

type StartSession = typeof import('../session/assemble.js').startSession

/** What a configuration becomes for matching and session assembly; replaced whole by a reload. */
export interface Routing {
  readonly config: LoadedConfig
  readonly table: RouteTable<LoadedRoute>
  /** Each route's constant environment (`passEnv` and the fixed CGI variables). */
  readonly envs: ReadonlyMap<LoadedRoute, Readonly<Record<string, string>>>
}

/**
 * Everything one server instance shares between its plugins: the routing of the current
 * configuration, the sessions, the drain flag, the admission counters and the metrics. One per
 * {@link buildServer} call; nothing of it lives at module level.
 */
export class ServerState {
  routing: Routing
  draining = false
  readonly sessions = new Set<ServedSession>()
  /** The running programs of shared routes, by route and URL path. */
  readonly shared: SharedPrograms = new Map()
  readonly metrics = new Metrics()
  /** Filled and emptied synchronously by one session at a time: the server's sessions share it. */
  readonly lines = new Lines()
  /** One reusable buffer for every session's output frames: see OutputBuffer. */
  readonly output = new OutputBuffer()
  /** Whether client frames are read by the fast path (off, logged and counted, when ws is not the expected one). */
  readonly fastReceive: FastReceive
  readonly counter: SessionCounter
  readonly failures = new AuthFailures()
  /** Aborted by a kill: nothing waits for sessions any more. */
  readonly killed = new AbortController()
  /** The server's environment, from which routes' `passEnv` variables are taken. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The spawner processes that start programs, once {@link loadSessions} has made them; none with `spawners: 0`. */
  starter: SpawnerPool | undefined
  /** What the descriptor limit allows, read at start-up; undefined where it cannot be read or is unlimited. */
  readonly budget: DescriptorBudget | undefined
  /** The server-wide `maxSessions` and `maxConnections` in effect: the configured ones within {@link budget}. */
  limits: EffectiveLimits
  /** The main server's connection cap, once `createServers` has made it. */
  connections: ConnectionCap | undefined

  readonly #spawners: number
  readonly #log: FastifyBaseLogger
  /** The session module's entry, once {@link loadSessions} has loaded it. */
  #startSession: StartSession | undefined
  #loading: Promise<void> | undefined

  constructor (config: LoadedConfig, env: Readonly<Record<string, string | undefined>>, log: FastifyBaseLogger) {
    this.env = env
    this.#spawners = config.spawners
    this.#log = log
    this.metrics.trackBuffered(this.sessions)
    this.fastReceive = new FastReceive((reason) => {
      log.warn({ reason }, 'fast receive off')
      this.metrics.fastReceive(false)
    })
    this.metrics.fastReceive(this.fastReceive.active)
    this.routing = this.compile(config)
    this.budget = readBudget(config.spawners)
    this.limits = this.limitsFor(config)
    this.counter = new SessionCounter({ maxSessions: this.limits.maxSessions, maxSessionsPerClient: config.security.maxSessionsPerClient })
    this.metrics.trackLimits(this, () => this.starter)
  }

  /**
   * The limits in effect for `config` within the descriptor budget; logs a warning (the limit,
   * what fits, how to raise it) when the configured ones do not fit.
   */
  limitsFor (config: LoadedConfig): EffectiveLimits {
    const limits = effectiveLimits(config.security, this.budget)
    if (limits.capped) this.#log.warn(budgetWarning(config.security, this.budget as DescriptorBudget, limits), 'descriptor limit too low for the configured limits')
    return limits
  }

  /** Applies `config`'s server-wide session limits (a reload): within the budget, as at start-up. */
  applyLimits (config: LoadedConfig): EffectiveLimits {
    this.limits = this.limitsFor(config)
    this.counter.setServerLimits({ maxSessions: this.limits.maxSessions, maxSessionsPerClient: config.security.maxSessionsPerClient })
    return this.limits
  }

  /** The routing for `config`, with the server's environment. */
  compile (config: LoadedConfig): Routing {
    return { config, table: compileRoutes(config.routes, config.maxParamLength), envs: routeEnvironments(config.routes, this.env) }
  }

  /**
   * Loads the code that runs sessions (execa, the session, the wire formats) and starts the
   * spawners (settles once one is ready): on the first upgrade or once the server listens, whichever comes first, so that
   * start-up does not pay for it.
   */
  async loadSessions (): Promise<void> {
    this.#loading ??= Promise.all([
      import('../session/assemble.js').then((m) => { this.#startSession = m.startSession }),
      this.#spawners === 0 ? undefined : import('../spawner/pool.js').then(async (m) => this.#startSpawners(new m.SpawnerPool(this.#spawners, this.#log, () => this.routing.config.startTimeoutMs)))
    ]).then(() => {})
    return this.#loading
  }

  /** Forks the spawners; settles once one is ready, so that no upgrade is answered before its program can be sent. */
  async #startSpawners (pool: SpawnerPool): Promise<void> {
    this.starter = pool
    pool.start()
    await pool.ready
  }

  /** Ends the spawners (their programs' groups with them) and waits for them to exit. */
  async closeSpawners (): Promise<void> {
    await this.#loading
    await this.starter?.close()
  }

  /** Starts the session of an admitted upgrade; only after {@link loadSessions} has resolved. */
  get startSession (): StartSession {
    return this.#startSession as StartSession
  }

  /**
   * Sends a deliberate refusal and counts it by its error code:
   * WSEXEC_ERR_ORIGIN_NOT_ALLOWED → `origin_not_allowed`.
   */
  refuse (reply: FastifyReply, err: FastifyError): FastifyReply {
    this.metrics.refused(err.code.replace('WSEXEC_ERR_', '').toLowerCase())
    return reply.send(err)
  }
}

/** The request's path, without the query. */
export function pathOf (request: FastifyRequest): string {
  return splitUrl(request.url).path
}

/** ws's limit is server-wide: the largest route's; each session checks its route's own. */
export function largestMessage (config: LoadedConfig): number {
  return Math.max(...config.routes.map((r) => r.maxMessageBytes))
}
