import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { SessionSummary } from '../session/session.js'

/** How a session ended, as the `outcome` label of `wsexec_sessions_ended_total`. */
export type Outcome = 'exit_zero' | 'exit_nonzero' | 'signal' | 'spawn_failed' | 'detached'

/**
 * Why a request was refused before any process started, as the `reason` label: the error code
 * without its prefix, lower-cased (`not_found`… from WSEXEC_ERR_ROUTE_NOT_FOUND is `route_not_found`).
 */
export type RefusalReason = string

/** The outcome label for a session's summary. */
export function outcomeOf (summary: SessionSummary): Outcome {
  if (summary.detached === true) return 'detached'
  if (summary.spawnError !== null) return 'spawn_failed'
  if (summary.signal !== null) return 'signal'
  return summary.exitCode === 0 ? 'exit_zero' : 'exit_nonzero'
}

/** What {@link Metrics.trackLimits} reads at each scrape. */
export interface LimitsSource {
  readonly budget: { readonly limit: number, readonly reserved: number } | undefined
  readonly limits: { readonly maxSessions: number, readonly maxConnections: number }
  readonly connections: { readonly open: number } | undefined
}

/**
 * The Prometheus metrics of one server, in their own registry (so several servers in one process
 * do not collide), with prom-client's default process metrics.
 */

export class Metrics {
  readonly registry = new Registry()
  readonly #active: Gauge<'route'>
  readonly #ended: Counter<'route' | 'outcome'>
  readonly #refused: Counter<'reason'>
  readonly #duration: Histogram<'route'>
  readonly #spawn: Histogram<'route'>
  readonly #messages: Counter<'route' | 'direction'>
  readonly #bytes: Counter<'route' | 'direction'>
  readonly #fastReceive: Gauge
  readonly #sharedPrograms: Gauge<'route'>
  readonly #sharedClients: Gauge<'route'>
  readonly #inputDropped: Counter<'route'>

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.#active = new Gauge({ name: 'wsexec_sessions_active', help: 'Sessions running now, by route', labelNames: ['route'], registers })
    this.#ended = new Counter({ name: 'wsexec_sessions_ended_total', help: 'Sessions ended, by route and outcome (exit_zero, exit_nonzero, signal, spawn_failed; detached: a client that left a shared program running)', labelNames: ['route', 'outcome'], registers })
    this.#refused = new Counter({ name: 'wsexec_requests_refused_total', help: 'Requests refused before any process started, by reason', labelNames: ['reason'], registers })
    this.#duration = new Histogram({ name: 'wsexec_session_duration_seconds', help: 'Session duration, by route', labelNames: ['route'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600], registers })
    this.#spawn = new Histogram({ name: 'wsexec_process_start_seconds', help: 'Time from the upgrade to the process start, by route', labelNames: ['route'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers })
    this.#messages = new Counter({ name: 'wsexec_messages_total', help: 'WebSocket messages, by route and direction (in: client to program, out: program to client)', labelNames: ['route', 'direction'], registers })
    this.#bytes = new Counter({ name: 'wsexec_bytes_total', help: 'Message payload bytes, by route and direction: in = of client messages (to the program), out = of messages sent to clients (WebSocket frame headers not counted)', labelNames: ['route', 'direction'], registers })
    this.#sharedPrograms = new Gauge({ name: 'wsexec_shared_programs', help: 'Programs of shared routes running now, by route', labelNames: ['route'], registers })
    this.#sharedClients = new Gauge({ name: 'wsexec_shared_clients', help: 'Clients attached to shared programs now, by route', labelNames: ['route'], registers })
    this.#inputDropped = new Counter({ name: 'wsexec_shared_input_dropped_total', help: 'Client messages of shared routes dropped because the client may not write, by route', labelNames: ['route'], registers })
    this.#fastReceive = new Gauge({ name: 'wsexec_fast_receive_active', help: '1 while client frames are read by the fast path, 0 when ws reads them all (another ws version, or an unexpected receiver)', registers })
  }

  /** A session of `route` started its process after `seconds`. */
  started (route: string, seconds: number): void {
    this.#active.inc({ route })
    this.#spawn.observe({ route }, seconds)
  }

  /** A session of `route` ended (whether or not its process ever started). */
  ended (route: string, summary: SessionSummary, wasActive: boolean): void {
    if (wasActive) this.#active.dec({ route })
    this.#ended.inc({ route, outcome: outcomeOf(summary) })
    this.#duration.observe({ route }, summary.durationMs / 1000)
    this.#messages.inc({ route, direction: 'in' }, summary.in.messages)
    this.#messages.inc({ route, direction: 'out' }, summary.out.messages)
    this.#bytes.inc({ route, direction: 'in' }, summary.in.bytes)
    this.#bytes.inc({ route, direction: 'out' }, summary.out.bytes)
  }

  /**
   * Exposes `wsexec_buffered_bytes`: the bytes the server holds for `sessions` right now, by
   * direction (to_client: frames not yet sent; to_program: input not yet written), summed at scrape time.
   */
  trackBuffered (sessions: Iterable<{ bufferedBytes (): { toClient: number, toProgram: number } }>): void {
    new Gauge({ // eslint-disable-line no-new -- the registry keeps it
      name: 'wsexec_buffered_bytes',
      help: 'Bytes held by the server for its sessions, by direction (to_client: frames not yet sent; to_program: input not yet written)',
      labelNames: ['direction'],
      registers: [this.registry],
      collect () {
        let toClient = 0
        let toProgram = 0
        for (const session of sessions) {
          const held = session.bufferedBytes()
          toClient += held.toClient
          toProgram += held.toProgram
        }
        this.set({ direction: 'to_client' }, toClient)
        this.set({ direction: 'to_program' }, toProgram)
      }
    })
  }

  /**
   * Exposes the descriptor budget and the limits in effect (`wsexec_descriptors_limit`,
   * `wsexec_descriptors_reserved`, `wsexec_sessions_max`, `wsexec_connections_max`), the
   * connections open and the program starts waiting or sent to a spawner, read at scrape time.
   */
  trackLimits (source: LimitsSource, starter: () => { readonly inFlight: number, readonly queued: number } | undefined): void {
    const registers = [this.registry]
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({ name, help, registers, collect () { this.set(value()) } }) // eslint-disable-line no-new -- the registry keeps it
    }
    gauge('wsexec_descriptors_limit', 'The soft descriptor limit (RLIMIT_NOFILE) the budget was derived from; 0 when unknown or unlimited', () => source.budget?.limit ?? 0)
    gauge('wsexec_descriptors_reserved', 'Descriptors the budget keeps for the server itself (open at start-up, spawners\' channels, a reserve)', () => source.budget?.reserved ?? 0)
    gauge('wsexec_sessions_max', 'Sessions at once in effect: maxSessions within the descriptor budget (0: no limit)', () => source.limits.maxSessions)
    gauge('wsexec_connections_max', 'Connections at once in effect: maxConnections within the descriptor budget', () => source.limits.maxConnections)
    gauge('wsexec_connections_open', 'Connections open now (not counting those being refused)', () => source.connections?.open ?? 0)
    new Gauge({ // eslint-disable-line no-new -- the registry keeps it
      name: 'wsexec_starts_pending',
      help: 'Program starts asked for and not yet answered, by state (queued: waiting for a spawner; sent: a spawner is starting it)',
      labelNames: ['state'],
      registers,
      collect () {
        const pool = starter()
        const queued = pool?.queued ?? 0
        this.set({ state: 'queued' }, queued)
        this.set({ state: 'sent' }, (pool?.inFlight ?? 0) - queued)
      }
    })
  }

  /** Whether client frames are read by the fast path (see FastReceive). */
  fastReceive (active: boolean): void {
    this.#fastReceive.set(active ? 1 : 0)
  }

  /** A shared program of `route` started (`delta` 1) or ended (-1). */
  sharedProgram (route: string, delta: number): void {
    this.#sharedPrograms.inc({ route }, delta)
  }

  /** A client attached to (`delta` 1) or left (-1) a shared program of `route`. */
  sharedClient (route: string, delta: number): void {
    this.#sharedClients.inc({ route }, delta)
  }

  /** A message of a client that may not write was dropped. */
  inputDropped (route: string): void {
    this.#inputDropped.inc({ route })
  }

  /** A request was refused before any process started. */
  refused (reason: RefusalReason): void {
    this.#refused.inc({ reason })
  }
}
