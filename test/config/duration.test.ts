import t from 'tap'
import { toMs } from '../../src/config/duration.js'

t.test('durations in every unit', async (t) => {
  t.equal(toMs(250), 250)
  t.equal(toMs('500ms'), 500)
  t.equal(toMs('1s'), 1000)
  t.equal(toMs('1.5s'), 1500)
  t.equal(toMs('5m'), 300_000)
  t.equal(toMs('2h'), 7_200_000)
})

t.test('bad durations are a TypeError quoting the value', async (t) => {
  t.throws(() => toMs('1 s'), { name: 'TypeError', message: /Invalid duration: "1 s"/ })
  t.throws(() => toMs(-1), TypeError)
  t.throws(() => toMs(Number.NaN), TypeError)
})
