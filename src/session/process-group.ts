/** How often a terminating group is checked for survivors, in ms. */
export const GROUP_POLL_MS = 25

/**
 * Signals a program's whole process group (the program is started as a group leader), so that
 * children it started in the background end with it: SIGTERM, then SIGKILL after a grace period.
 */
export class ProcessGroup {
  readonly #pid: number
  readonly #killGraceMs: number
  #timer: NodeJS.Timeout | undefined
  #terminating = false
  #gone = false

  constructor (pid: number, killGraceMs: number) {
    this.#pid = pid
    this.#killGraceMs = killGraceMs
  }

  /**
   * Sends `signal` to every process of the group; false when none is left. A group once found
   * empty is never signalled again: no process can join an empty group, and by the time of a
   * later signal (a shutdown's SIGKILL, say) its id may be a new, unrelated process's.
   */
  signal (signal: NodeJS.Signals | 0): boolean {
    if (this.#gone) return false
    if (this.deliver(signal)) return true
    this.#gone = true
    return false
  }

  /** Sends `signal` to the group itself; false when it has no process left. */
  protected deliver (signal: NodeJS.Signals | 0): boolean {
    try {
      process.kill(-this.#pid, signal)
      return true
    } catch {
      // ESRCH: the group is empty. EPERM cannot happen for our own children.
      return false
    }
  }

  /**
   * SIGTERM now, and SIGKILL after the grace period if any process is left; idempotent. The group
   * is checked every {@link GROUP_POLL_MS} meanwhile, so nothing stays pending once it is empty
   * (and its id, free again, is never signalled).
   */
  terminate (): void {
    if (this.#terminating) return
    this.#terminating = true
    if (!this.signal('SIGTERM')) return
    const deadline = Date.now() + this.#killGraceMs
    const check = (): void => {
      this.#timer = undefined
      if (!this.signal(0)) return
      const left = deadline - Date.now()
      if (left <= 0) this.signal('SIGKILL')
      else this.#timer = setTimeout(check, Math.min(GROUP_POLL_MS, left))
    }
    this.#timer = setTimeout(check, Math.min(GROUP_POLL_MS, this.#killGraceMs))
  }

  /** SIGKILL now, and no later signal. */
  kill (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#terminating = true
    this.signal('SIGKILL')
  }
}
