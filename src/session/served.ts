import type { Route } from '../config/load.js'
import type { SessionSummary } from './session.js'

/**
 * What the server's books hold of every client it serves: a {@link Session}, or a client attached
 * to a shared program. Drains, shutdowns and the buffered-bytes gauge need no more than this.
 */
export interface ServedSession {
  readonly id: string
  readonly route: Route
  /** The program's process id, once started. */
  readonly pid: number | undefined
  /** Settles once the client is gone and nothing of it is left to wait for (see `Session.done`). */
  readonly done: Promise<SessionSummary>
  /** Settles when a drain has nothing left to wait for. */
  readonly settled: Promise<void>
  /** True while the client's socket is not read because the program does not take its input. */
  readonly inputPaused: boolean
  /** Bytes held for the client and for the program. */
  bufferedBytes (): { toClient: number, toProgram: number }
  /** Ends from the server's side: 1001, the program terminated, a silent client dropped after `killGrace`. */
  shutdown (reason?: string): void
  /** Ends at once: 1001, SIGKILL, the connection dropped. */
  kill (reason?: string): void
}
