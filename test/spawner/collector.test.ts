import t from 'tap'
import { collectEvery, STARTS_PER_COLLECTION } from '../../src/spawner/collector.mjs'

t.test('collectEvery collects after every nth start, counting again from there', async (t) => {
  let collections = 0
  const started = collectEvery(3, () => { collections++ })
  const seen: number[] = []
  for (let i = 0; i < 7; i++) {
    started()
    seen.push(collections)
  }
  t.same(seen, [0, 0, 1, 1, 1, 2, 2])
})

t.test('collectEvery refuses a count that is not a positive integer, and a missing gc', async (t) => {
  t.throws(() => collectEvery(0, () => {}), new TypeError('every must be a positive integer, got 0'))
  t.throws(() => collectEvery(1.5, () => {}), new TypeError('every must be a positive integer, got 1.5'))
  t.throws(() => collectEvery(STARTS_PER_COLLECTION, undefined as unknown as () => void), /collect must be a function, got undefined \(is the spawner started with --expose-gc\?\)/)
})
