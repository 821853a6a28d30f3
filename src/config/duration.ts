/** Accepted duration strings: a number with `ms`, `s`, `m` or `h` (`500ms`, `1.5s`, `5m`). */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$'

const factors: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const durationRe = new RegExp(DURATION_PATTERN)

/**
 * Milliseconds for a duration given as a number of milliseconds or a string such as `1s`.
 * @throws {TypeError} when the value is neither.
 */
export function toMs (value: number | string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value
  const match = typeof value === 'string' ? durationRe.exec(value) : null
  if (match === null) throw new TypeError(`Invalid duration: ${JSON.stringify(value)} (use 500ms, 1s, 5m or milliseconds)`)
  return Math.round(Number.parseFloat(value as string) * (factors[match[2] as string] as number))
}
