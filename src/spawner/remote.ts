import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { TerminalSize } from './protocol.js'

/**
 * A program started by a spawner, as the session sees it: the pipes handed over, the pid, an
 * `exit` event (code, signal) as a child process has, and `lost` when its spawner died before the
 * program's exit could be told. The spawner's news may come before the session listens (the
 * start is answered through a promise): it is kept until {@link RemoteProgram.replay}. A terminal
 * program has one socket, its `stdin` and `stdout` both, and is resized through its spawner.
 */
export class RemoteProgram extends EventEmitter {
  readonly pid: number
  readonly stdin: Socket
  readonly stdout: Socket
  readonly stderr: Socket | null
  readonly #resize: (size: TerminalSize) => void
  #kept: (() => void) | undefined

  constructor (pid: number, pipes: ReadonlyArray<Socket | undefined>, resize: (size: TerminalSize) => void) {
    super()
    this.pid = pid
    this.stdin = pipes[0] as Socket
    this.stdout = pipes[1] as Socket
    this.stderr = pipes[2] ?? null
    this.#resize = resize
  }

  /** Sets a terminal program's size (its spawner sets it; the foreground process group gets SIGWINCH). */
  resize (cols: number, rows: number): void {
    this.#resize({ cols, rows })
  }

  /** The spawner's last word on the program (`exit` with code and signal, or `lost`): emitted now if heard, else kept. */
  tell (event: 'exit' | 'lost', ...args: unknown[]): void {
    const emit = (): void => { this.emit(event, ...args) }
    if (this.listenerCount(event) > 0) emit()
    else this.#kept = emit
  }

  /** Emits what was told before anyone listened. */
  replay (): void {
    const kept = this.#kept
    this.#kept = undefined
    kept?.()
  }
}
