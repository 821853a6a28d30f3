import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { Readable, Writable } from 'node:stream'
import type { IPty } from '@lydell/node-pty'
import { sessionGroups, signalSession } from '../spawner/session-groups.mjs'
import { ProcessGroup } from './process-group.js'

/** `TERM` of a terminal program unless the route's environment sets one. */
export const DEFAULT_TERM = 'xterm-256color'

/** The terminal's name (node-pty's `name`, the program's `TERM`): the route's `TERM`, else {@link DEFAULT_TERM}. */
export function terminalName (env: Readonly<Record<string, string>>): string {
  return env['TERM'] ?? DEFAULT_TERM
}

/** What a terminal program is started from. */
export interface TerminalSpec {
  readonly file: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | undefined
  readonly cols: number
  readonly rows: number
}

/** node-pty, loaded by the first terminal session: a server without `tty` routes never maps its native addon (about 4 MiB of RSS). */
let nodePty: typeof import('@lydell/node-pty') | undefined
function loadNodePty (): typeof import('@lydell/node-pty') {
  nodePty ??= createRequire(import.meta.url)('@lydell/node-pty') as typeof import('@lydell/node-pty')
  return nodePty
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number as number, name]))

/**
 * A program running on a pseudo-terminal, shaped as the session's program side: `stdin` writes
 * to the terminal as it is (ending it hangs the terminal up: SIGHUP to every process group of
 * the terminal's session), `stdout` carries everything the terminal shows (stderr included:
 * `stderr` is null), `exit` comes once the output is all read. The program is the leader of a
 * new session with the terminal as its controlling terminal (node-pty's forkpty), so its pid is
 * also its session and process group id.
 */
export class TerminalProcess extends EventEmitter {
  readonly pid: number
  readonly stdin: Writable
  readonly stdout: Readable
  readonly stderr = null
  readonly #pty: IPty
  #exited = false

  constructor (spec: TerminalSpec) {
    super()
    const { spawn } = loadNodePty()
    let pty: IPty
    try {
      pty = spawn(spec.file, [...spec.args], {
        name: terminalName(spec.env),
        cols: spec.cols,
        rows: spec.rows,
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        env: { ...spec.env },
        encoding: null
      })
    /* c8 ignore next 3 -- node-pty throws only when forkpty(3) fails: the system is out of terminals or processes */
    } catch (err) {
      throw Object.assign(err as Error, { code: (err as NodeJS.ErrnoException).code ?? 'EPTY' })
    }
    this.#pty = pty
    this.pid = pty.pid
    this.stdout = new Readable({ read: () => this.#pty.resume() })
    this.stdin = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        // After the exit node-pty has closed the terminal: what comes late is dropped.
        // node-pty's types say string; it writes to a net.Socket, which takes the raw bytes as they are.
        if (!this.#exited) this.#pty.write(chunk as unknown as string)
        callback()
      },
      final: (callback) => {
        this.hangUp()
        callback()
      }
    })
    pty.onData((data: string | Buffer) => {
      if (!this.stdout.push(data)) pty.pause()
    })
    // node-pty reports the exit once the terminal's output is all read (or the terminal is closed).
    pty.onExit(({ exitCode, signal }) => {
      this.#exited = true
      this.stdout.push(null)
      // 0 (no signal) has no name.
      const name = signalNames.get(signal as number)
      this.emit('exit', name === undefined ? exitCode : null, name ?? null)
    })
  }

  /** Sets the terminal's size; the foreground process group gets SIGWINCH. */
  resize (cols: number, rows: number): void {
    if (!this.#exited) this.#pty.resize(cols, rows)
  }

  /** A terminal hang-up: SIGHUP to every process group of the terminal's session. */
  hangUp (): void {
    if (!this.#exited) new TerminalGroup(this.pid, 0).signal('SIGHUP')
  }
}

/** The process groups of session `sid`, from /proc (see session-groups.mjs: the spawners use it too). */
export { sessionGroups }

/**
 * The {@link ProcessGroup} of a terminal program: its signals reach every process group of the
 * terminal's session (the program's own, and each job a shell started), as a terminal hang-up does.
 */
export class TerminalGroup extends ProcessGroup {
  readonly #sid: number

  constructor (sid: number, killGraceMs: number) {
    super(sid, killGraceMs)
    this.#sid = sid
  }

  protected override deliver (signal: NodeJS.Signals | 0): boolean {
    return signalSession(this.#sid, signal)
  }
}
