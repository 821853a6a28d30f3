import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/** The young generation's cap: 8 MiB semi-spaces (V8's default grows them to 16), as `--max-semi-space-size=8`. */
export const MAX_SEMI_SPACE_MIB = 8

/**
 * The V8 flag used: read by V8 each time it grows the new space (unlike `--max-semi-space-size`,
 * which counts only when the heap is made), so it can be set at run time. A V8 internal: the test
 * of this module fails if V8 stops honouring it.
 */
export const GROWTH_FLAG = '--semi-space-growth-factor'
const GROWTH_FACTOR = 2

/** Bytes of V8's new space (both semi-spaces), or 0 if V8 no longer reports it. */
export function newSpaceBytes (): number {
  /* c8 ignore next: defensive, V8 names its young generation new_space in every release this runs on */
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0
}

/**
 * Caps the young generation at `maxSemiSpaceMiB` semi-spaces however node was started (plain
 * `node dist/bin.js`, npx, a container, a program that imports wsexec): after every GC, new-space
 * growth is stopped when one more doubling would pass the cap and allowed again below it.
 * Returns a function that stops watching. `--max-semi-space-size` on the command line still works.
 */
export function limitYoungGeneration (maxSemiSpaceMiB = MAX_SEMI_SPACE_MIB): () => void {
  if (!Number.isSafeInteger(maxSemiSpaceMiB) || maxSemiSpaceMiB < 1) throw new TypeError(`maxSemiSpaceMiB must be a positive integer, got ${String(maxSemiSpaceMiB)}`)
  const capBytes = 2 * maxSemiSpaceMiB * 1024 * 1024
  let growing: boolean | undefined
  const check = (): void => {
    const grow = newSpaceBytes() * GROWTH_FACTOR <= capBytes
    if (grow === growing) return
    growing = grow
    setFlagsFromString(`${GROWTH_FLAG}=${grow ? GROWTH_FACTOR : 1}`)
  }
  check()
  const observer = new PerformanceObserver(check)
  observer.observe({ entryTypes: ['gc'] })
  return () => {
    observer.disconnect()
    setFlagsFromString(`${GROWTH_FLAG}=${GROWTH_FACTOR}`)
  }
}
