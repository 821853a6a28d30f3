// The spawner's garbage collection between program starts (plain JavaScript: worker.mjs imports it).

/**
 * Program starts between two full garbage collections in a spawner. Each start leaves a few KiB
 * of execa's garbage, and a burst of overlapping starts promotes it to the old generation, which
 * V8 then grows rather than collects: measured with 300 idle `cat` sessions on two spawners,
 * their private memory grew by 45 KiB per program without these collections and by 18 KiB with
 * one every 25 starts (a program's live heap is about 19 KiB).
 */
export const STARTS_PER_COLLECTION = 25

/**
 * Returns the function a spawner calls after each start: every `every`th call runs `collect`
 * (V8's `gc`, exposed to the spawner by `--expose-gc`).
 * @throws {TypeError} when `every` is not a positive integer or `collect` not a function.
 */
export function collectEvery (every, collect) {
  if (!Number.isSafeInteger(every) || every < 1) throw new TypeError(`every must be a positive integer, got ${String(every)}`)
  if (typeof collect !== 'function') throw new TypeError(`collect must be a function, got ${typeof collect} (is the spawner started with --expose-gc?)`)
  let starts = 0
  return () => {
    starts++
    if (starts < every) return
    starts = 0
    collect()
  }
}
