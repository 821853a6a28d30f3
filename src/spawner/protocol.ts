/** What a spawner needs to start one program: everything already resolved by the server. */
export interface SpawnSpec {
  /** Absolute path of the program. */
  readonly file: string
  readonly args: readonly string[]
  /** The program's `argv[0]`: the command as the route wrote it. */
  readonly argv0: string
  readonly cwd: string | undefined
  /** The program's whole environment (nothing inherited). */
  readonly env: Readonly<Record<string, string>>
  /** Whether stderr is a pipe (false: /dev/null). */
  readonly stderr: boolean
  /** SIGTERM to SIGKILL, in ms, when the spawner ends the program's group itself (its server died). */
  readonly killGraceMs: number
  /** Present for a program on a pseudo-terminal (no stdio pipes, `stderr` false): its size and `TERM`. */
  readonly terminal?: TerminalSize & { readonly term: string }
}

/** A terminal's size, in characters. */
export interface TerminalSize {
  readonly cols: number
  readonly rows: number
}

/** Server → spawner: a start, or a new size for a running terminal program (ignored once it exited). */
export type Request =
  | { t: 'spawn', id: number, spec: SpawnSpec }
  | ({ t: 'resize', id: number } & TerminalSize)

/**
 * Spawner → server, in this order for one program (Node's channel keeps the order, and sends a
 * message after a handle only once the server acknowledged the handle): its pipes (`stdio`, one
 * handle per message: 0 stdin, 1 stdout, 2 stderr when piped; a terminal program has one socket
 * instead, `terminal`, its input and output), `started` with its pid, later
 * `exit` with its status only (the output's end comes from the pipes). A program that could not
 * start gets `failed` instead of all of these.
 */
export type Reply =
  | { t: 'ready' }
  | { t: 'stdio', id: number, fd: 0 | 1 | 2 }
  | { t: 'terminal', id: number }
  | { t: 'started', id: number, pid: number }
  | { t: 'failed', id: number, code: string, message: string }
  | { t: 'exit', id: number, code: number | null, signal: NodeJS.Signals | null }
