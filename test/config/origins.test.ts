import t from 'tap'
import { isOriginPattern } from '../../src/config/origins.js'

t.test('origin patterns are checked', async (t) => {
  for (const p of ['*', 'null', 'https://a.com', 'http://*.a.com:81', 'http://[::1]:8080']) t.ok(isOriginPattern(p), p)
  for (const p of ['a.com', 'https://a.com/', 'https://a.*.com', 'https://*a.com', 'https://a.com/x', '*.a.com', 'https://*.']) t.notOk(isOriginPattern(p), p)
})
