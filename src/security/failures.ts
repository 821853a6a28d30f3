import { RateLimiterMemory } from 'rate-limiter-flexible'
import type { AuthSpec } from '../config/security.js'

/**
 * Failed authentications by client address, for each `auth` block: after `maxFailures` within
 * `failureWindowMs` (counted from the first), the address is refused until the window ends.
 * A block whose `maxFailures` or `failureWindowMs` is 0 is not limited.
 */
export class AuthFailures {
  // Keyed by the block itself: a reload makes new blocks, with their own limits and counts.
  readonly #limiters = new WeakMap<AuthSpec, RateLimiterMemory>()

  #limiter (spec: AuthSpec): RateLimiterMemory | undefined {
    if (spec.maxFailures === 0 || spec.failureWindowMs === 0) return undefined
    let limiter = this.#limiters.get(spec)
    if (limiter === undefined) {
      limiter = new RateLimiterMemory({ points: spec.maxFailures, duration: spec.failureWindowMs / 1000 })
      this.#limiters.set(spec, limiter)
    }
    return limiter
  }

  /** Whole seconds until `client` may try `spec` again (at least 1), or 0 when it may now. */
  async retryAfter (spec: AuthSpec, client: string): Promise<number> {
    const res = await this.#limiter(spec)?.get(client)
    if (res === undefined || res === null || res.consumedPoints < spec.maxFailures) return 0
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000))
  }

  /** Counts one failed authentication of `client` against `spec`. */
  async failed (spec: AuthSpec, client: string): Promise<void> {
    await this.#limiter(spec)?.penalty(client)
  }
}
