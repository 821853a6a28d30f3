/** Median of the finite values; NaN when there are none. */
export function median (values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? sorted[mid] as number
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Nearest-rank percentile (`p` in 0..100) of the finite values; NaN when there are none. */
export function percentile (values: readonly number[], p: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p / 100 * sorted.length)))
  return sorted[rank - 1] as number
}

/** candidate / baseline; NaN when either is not finite or both are 0, Infinity over a 0 baseline. */
export function ratio (candidate: number, baseline: number): number {
  if (!Number.isFinite(candidate) || !Number.isFinite(baseline)) return Number.NaN
  if (baseline === 0) return candidate === 0 ? Number.NaN : Number.POSITIVE_INFINITY
  return candidate / baseline
}
