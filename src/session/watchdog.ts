import { performance } from 'node:perf_hooks'
import type WebSocket from 'ws'
import { CloseCode, type Close } from '../close-codes.js'

/** The close sent when a session had no message either way for `idleTimeout`. */
export const IDLE_CLOSE: Close = Object.freeze({ code: CloseCode.NORMAL, reason: 'idle timeout' })
/** The close sent when a session reached `maxLifetime`. */
export const LIFETIME_CLOSE: Close = Object.freeze({ code: CloseCode.NORMAL, reason: 'max lifetime' })
/** The close sent (for the record: the peer no longer reads) when a ping went unanswered. */
export const DEAD_PEER_CLOSE: Close = Object.freeze({ code: CloseCode.GOING_AWAY, reason: 'peer not responding' })

/** What the watchdog needs of a session. */
export interface Watched {
  /** `performance.now()` of the last message either way. */
  readonly lastActivity: number
  /** `performance.now()` of the last client message. */
  readonly lastInput: number
  /** True while the client's socket is not read (input backpressure): its pongs wait unread. */
  readonly inputPaused: boolean
  /** `performance.now()` when reading the client last resumed after such a pause (0: never). */
  readonly inputResumedAt: number
  /** Ends the session with this close and terminates its processes. */
  end (close: Close): void
  readonly done: Promise<unknown>
}

/** The watchdog's limits, in milliseconds; 0 turns one off. */
export interface WatchdogLimits {
  readonly idleTimeoutMs: number
  readonly maxLifetimeMs: number
  readonly pingIntervalMs: number
}

/**
 * Ends `session` when it has been idle for `idleTimeoutMs`, when it is `maxLifetimeMs` old, or
 * when its peer did not answer a ping within `pingIntervalMs` (then the connection is dropped).
 * A ping sent while input is paused by backpressure, or answered by a pong that waits behind
 * unread input, is not counted: the pings go on (a peer that is gone then fails them at the TCP
 * level), and the count starts again with the first ping after input resumes. Before ending a
 * session for silence, what waits to be read is read: a busy event loop never makes a live peer
 * look silent. Stops by itself when the session is done.
 */
export function watch (session: Watched, ws: WebSocket, limits: WatchdogLimits): void {
  const timers: NodeJS.Timeout[] = []
  const immediates: NodeJS.Immediate[] = []
  const stop = (): void => {
    for (const t of timers) clearTimeout(t)
    for (const i of immediates) clearImmediate(i)
  }
  ws.once('close', stop)
  // Settles when the session ends, after the connection closed: a second stop is harmless.
  session.done.then(stop, stop)

  if (limits.idleTimeoutMs > 0) {
    const check = (confirmed: boolean): void => {
      const left = session.lastActivity + limits.idleTimeoutMs - performance.now()
      if (left > 0) timers[0] = setTimeout(check, left, false)
      else if (confirmed) session.end(IDLE_CLOSE)
      // Checked again after the poll phase, once messages that already arrived have been read.
      else immediates[0] = setImmediate(check, true)
    }
    timers[0] = setTimeout(check, limits.idleTimeoutMs, false)
  }
  if (limits.maxLifetimeMs > 0) timers[1] = setTimeout(() => session.end(LIFETIME_CLOSE), limits.maxLifetimeMs)
  if (limits.pingIntervalMs > 0) {
    // A pong or any message since the last ping shows the peer alive (messages are seen through
    // the session's timestamp: a second 'message' listener would cost every message an array copy).
    let answered = true
    let pingedAt = 0
    ws.on('pong', () => { answered = true })
    const heard = (): boolean => answered || session.lastInput > pingedAt ||
      // Paused input leaves the pong unread: only a ping sent while input flows is judged.
      session.inputPaused || session.inputResumedAt > pingedAt
    const tick = (confirmed: boolean): void => {
      if (heard()) {
        answered = false
        pingedAt = performance.now()
        ws.ping()
      } else if (confirmed) {
        session.end(DEAD_PEER_CLOSE)
        ws.terminate()
      } else {
        // Checked again after the poll phase, once a pong that already arrived has been read.
        immediates[1] = setImmediate(tick, true)
      }
    }
    timers[2] = setInterval(tick, limits.pingIntervalMs, false)
  }
}
