import type { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { AuthSpec } from '../config/security.js'

/**
 * Failed authentications by client address, for each `auth` block: after `maxFailures` within
 * `failureWindowMs` (counted from the first attempt), the address is refused until the window ends.
 * A block whose `maxFailures` or `failureWindowMs` is 0 is not limited.
 */
export class AuthFailures {
  // Keyed by the block itself: a reload makes new blocks, with their own limits and counts.
  readonly #limiters = new WeakMap<AuthSpec, RateLimiterMemory>()

  async #limiter (spec: AuthSpec): Promise<RateLimiterMemory | undefined> {
    if (spec.maxFailures === 0 || spec.failureWindowMs === 0) return undefined
    // Loaded with the first limited attempt: servers without auth never need it.
    const { RateLimiterMemory } = await import('rate-limiter-flexible')
    let limiter = this.#limiters.get(spec)
    if (limiter === undefined) {
      limiter = new RateLimiterMemory({ points: spec.maxFailures, duration: spec.failureWindowMs / 1000 })
      this.#limiters.set(spec, limiter)
    }
    return limiter
  }

  /**
   * Counts an attempt of `client` on `spec` before its credentials are checked (so no more checks
   * than `maxFailures` can be under way at once): 0 when it may go ahead, else the whole seconds
   * until the window ends (at least 1).
   */
  async attempt (spec: AuthSpec, client: string): Promise<number> {
    const limiter = await this.#limiter(spec)
    if (limiter === undefined) return 0
    try {
      await limiter.consume(client)
      return 0
    } catch (res) {
      // The memory store rejects with the limiter's result only, never with an error.
      return Math.max(1, Math.ceil((res as RateLimiterRes).msBeforeNext / 1000))
    }
  }

  /** Gives back the attempt of `client` on `spec`: its credentials were right. */
  async succeeded (spec: AuthSpec, client: string): Promise<void> {
    await (await this.#limiter(spec))?.reward(client)
  }
}
