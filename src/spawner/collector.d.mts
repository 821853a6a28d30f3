/** Program starts between two full garbage collections in a spawner (see collector.mjs). */
export const STARTS_PER_COLLECTION: number

/**
 * The function a spawner calls after each start: every `every`th call runs `collect`.
 * @throws {TypeError} when `every` is not a positive integer or `collect` not a function.
 */
export function collectEvery (every: number, collect: () => void): () => void
