import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { ServedSession } from '../session/served.js'
import type { ServerState } from './state.js'

/**
 * How long the server waits for sessions after their `killGrace`, in ms: long enough for a
 * SIGKILLed process to be reaped and a dropped connection to close, short enough that a stop
 * always ends within `drainTimeout + killGrace + 5 s`.
 */
export const CLOSE_MARGIN_MS = 1000

/**
 * Resolves true once every promise has settled, or false after `ms` or when `signal` aborts,
 * whichever comes first; never rejects.
 */
export async function settledWithin (promises: ReadonlyArray<Promise<unknown>>, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return false
  const timer = new AbortController()
  const stop = signal === undefined ? timer.signal : AbortSignal.any([timer.signal, signal])
  try {
    return await Promise.race([
      Promise.allSettled(promises).then(() => true),
      delay(ms, false, { signal: stop }).catch(() => false)
    ])
  } finally {
    timer.abort()
  }
}

/**
 * Closes `sessions` with 1001 and terminates their process groups (SIGTERM, SIGKILL after each
 * route's `killGrace`, when clients that have not answered the close are dropped too), then waits
 * for them for at most the longest `killGrace` plus {@link CLOSE_MARGIN_MS}. Sessions left then,
 * or all of them once `killed` aborts, are killed at once and get one more margin; whatever is
 * still not done after that is logged and left behind, so this always ends.
 */
export async function closeSessions (sessions: Iterable<ServedSession>, log: FastifyBaseLogger, killed: AbortSignal): Promise<void> {
  const open = [...sessions]
  if (open.length === 0) return
  const pending = new Set(open)
  for (const s of open) {
    s.done.then(() => pending.delete(s))
    s.shutdown()
  }
  const graceMs = Math.max(...open.map((s) => s.route.killGraceMs))
  if (await settledWithin(open.map((s) => s.done), graceMs + CLOSE_MARGIN_MS, killed)) return
  for (const s of pending) s.kill()
  if (await settledWithin(open.map((s) => s.done), CLOSE_MARGIN_MS)) return
  /* c8 ignore next 2 -- only a process that survives SIGKILL (uninterruptible sleep) gets here */
  log.warn({ sessions: [...pending].map((s) => ({ session: s.id, route: s.route.path, childPid: s.pid })) }, 'sessions left behind')
}

/** What {@link drainer} gives the server's state. */
export interface Drainer {
  /** See `WsexecState.drain`. */
  drain (timeoutMs?: number): Promise<void>
  /** Closes every session with 1001 and waits (a bounded time) until their processes are gone. */
  closeAll (): Promise<void>
  /** See `WsexecState.kill`. */
  kill (): void
}

/** Drain, close and kill for the sessions of `state`, logging to `log`. */
export function drainer (state: ServerState, log: FastifyBaseLogger): Drainer {
  const closeAll = async (): Promise<void> => {
    // Shared programs that linger without clients are in no session: they end with the server too.
    const lingering = [...state.shared.values()]
    for (const hub of lingering) hub.shutdown('server shutting down')
    await closeSessions(state.sessions, log, state.killed.signal)
    if (lingering.length > 0) await settledWithin(lingering.map((hub) => hub.ended), Math.max(...lingering.map((hub) => hub.route.killGraceMs)) + CLOSE_MARGIN_MS)
  }
  return {
    closeAll,
    async drain (timeoutMs = state.routing.config.shutdown.drainTimeoutMs) {
      state.draining = true
      if (state.sessions.size > 0) await settledWithin([...state.sessions].map((s) => s.settled), timeoutMs, state.killed.signal)
      await closeAll()
    },
    kill () {
      state.killed.abort()
      for (const hub of state.shared.values()) hub.kill('server shutting down')
      for (const s of state.sessions) s.kill()
    }
  }
}
