/**
 * Signals a program's whole process group (the program is started as a group leader), so that
 * children it started in the background end with it: SIGTERM, then SIGKILL after a grace period.
 */
export class ProcessGroup {
  readonly #pid: number
  readonly #killGraceMs: number
  #timer: NodeJS.Timeout | undefined
  #terminating = false

  constructor (pid: number, killGraceMs: number) {
    this.#pid = pid
    this.#killGraceMs = killGraceMs
  }

  /** Sends `signal` to every process of the group; false when none is left. */
  signal (signal: NodeJS.Signals | 0): boolean {
    try {
      process.kill(-this.#pid, signal)
      return true
    } catch {
      // ESRCH: the group is empty. EPERM cannot happen for our own children.
      return false
    }
  }

  /** SIGTERM now and SIGKILL after the grace period if any process is left; idempotent. */
  terminate (): void {
    if (this.#terminating) return
    this.#terminating = true
    if (!this.signal('SIGTERM')) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.signal('SIGKILL')
    }, this.#killGraceMs)
  }

  /** Forgets a pending SIGKILL (when the server must exit now and kills the group itself). */
  kill (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#terminating = true
    this.signal('SIGKILL')
  }
}
