import type { Readable, Writable } from 'node:stream'

/** Exit codes of the `wsexec` command. */
export const ExitCode = Object.freeze({ OK: 0, FAILURE: 1, USAGE: 2 })

/** What the command reads and writes besides its arguments; tests pass their own. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean, columns?: number, rows?: number }
  readonly stderr: Writable
  /** What `wsexec connect` sends; without it, end of input at once. */
  readonly stdin?: Readable & { isTTY?: boolean, setRawMode?: (raw: boolean) => unknown }
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /**
   * Process-wide signals to handle: SIGINT or SIGTERM drains (a second one kills every session
   * at once), SIGHUP reloads the configuration; in `wsexec connect`, SIGINT closes the session.
   */
  readonly signals?: NodeJS.EventEmitter
  /** Aborting it stops the server like a signal. */
  readonly stop?: AbortSignal
  /** Called with the address once the server listens. */
  readonly onListening?: (url: string) => void
}
