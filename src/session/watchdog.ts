import { performance } from 'node:perf_hooks'
import { CloseCode, type Close } from '../close-codes.js'

/** The close sent when a session had no message either way for `idleTimeout`. */
export const IDLE_CLOSE: Close = Object.freeze({ code: CloseCode.NORMAL, reason: 'idle timeout' })
/** The close sent when a session reached `maxLifetime`. */
export const LIFETIME_CLOSE: Close = Object.freeze({ code: CloseCode.NORMAL, reason: 'max lifetime' })
/** The close sent (for the record: the peer no longer reads) when a ping went unanswered. */
export const DEAD_PEER_CLOSE: Close = Object.freeze({ code: CloseCode.GOING_AWAY, reason: 'peer not responding' })

/** What the watchdog needs of a connection: its clock, ping and pong, and a way to end the session. */
export interface Watched {
  /** `performance.now()` of the last message either way. */
  readonly lastActivity: number
  /** `performance.now()` of the last client message. */
  readonly lastInput: number
  /** True while the client's socket is not read (input backpressure): its pongs wait unread. */
  readonly inputPaused: boolean
  /** `performance.now()` when reading the client last resumed after such a pause (0: never). */
  readonly inputResumedAt: number
  ping (): void
  onPong (callback: () => void): void
  /** Calls `callback` once when the connection is closed. */
  onClose (callback: () => void): void
  /** Ends the session with this close and terminates its processes. */
  expire (close: Close): void
  /** Drops the connection without a handshake. */
  terminate (): void
}

/** The watchdog's limits, in milliseconds; 0 turns one off. */
export interface WatchdogLimits {
  readonly idleTimeoutMs: number
  readonly maxLifetimeMs: number
  readonly pingIntervalMs: number
}

/**
 * Ends a session (`watched.expire`) when it has been idle for `idleTimeoutMs`, when it is `maxLifetimeMs` old, or
 * when its peer did not answer a ping within `pingIntervalMs` (then the connection is dropped).
 * A ping sent while input is paused by backpressure, or answered by a pong that waits behind
 * unread input, is not counted: the pings go on (a peer that is gone then fails them at the TCP
 * level), and the count starts again with the first ping after input resumes. Before ending a
 * session for silence, what waits to be read is read: a busy event loop never makes a live peer
 * look silent. Stops by itself when the connection is closed (a session is done only then).
 */
export function watch (watched: Watched, limits: WatchdogLimits): void {
  const timers: NodeJS.Timeout[] = []
  const immediates: NodeJS.Immediate[] = []
  const stop = (): void => {
    for (const t of timers) clearTimeout(t)
    for (const i of immediates) clearImmediate(i)
  }
  watched.onClose(stop)

  if (limits.idleTimeoutMs > 0) {
    const check = (confirmed: boolean): void => {
      const left = watched.lastActivity + limits.idleTimeoutMs - performance.now()
      if (left > 0) timers[0] = setTimeout(check, left, false)
      else if (confirmed) watched.expire(IDLE_CLOSE)
      // Checked again after the poll phase, once messages that already arrived have been read.
      else immediates[0] = setImmediate(check, true)
    }
    timers[0] = setTimeout(check, limits.idleTimeoutMs, false)
  }
  if (limits.maxLifetimeMs > 0) timers[1] = setTimeout(() => watched.expire(LIFETIME_CLOSE), limits.maxLifetimeMs)
  if (limits.pingIntervalMs > 0) {
    // A pong or any message since the last ping shows the peer alive (messages are seen through
    // the connection's timestamp: a second 'message' listener would cost every message an array copy).
    let answered = true
    let pingedAt = 0
    watched.onPong(() => { answered = true })
    const heard = (): boolean => answered || watched.lastInput > pingedAt ||
      // Paused input leaves the pong unread: only a ping sent while input flows is judged.
      watched.inputPaused || watched.inputResumedAt > pingedAt
    const tick = (confirmed: boolean): void => {
      if (heard()) {
        answered = false
        pingedAt = performance.now()
        watched.ping()
      } else if (confirmed) {
        watched.expire(DEAD_PEER_CLOSE)
        watched.terminate()
      } else {
        // Checked again after the poll phase, once a pong that already arrived has been read.
        immediates[1] = setImmediate(tick, true)
      }
    }
    timers[2] = setInterval(tick, limits.pingIntervalMs, false)
  }
}
