import t from 'tap'
import { visibleRequest, withoutToken } from '../../src/security/secrets.js'

t.test('the token query parameter is removed, the rest kept verbatim', async (t) => {
  t.equal(withoutToken('/a'), '/a')
  t.equal(withoutToken('/a?access_token=x'), '/a')
  t.equal(withoutToken('/a?x=1&access_token=x&y=%20'), '/a?x=1&y=%20')
  t.equal(withoutToken('/a?access%5Ftoken=x&b'), '/a?b', 'encoded name')
  t.equal(withoutToken('/a?%ZZ=1&access_token'), '/a?%ZZ=1', 'undecodable names are kept')
})

t.test('secrets are withheld unless passHeaders lists them', async (t) => {
  const headers = { authorization: 'Bearer s3cret', cookie: 'sid=1', host: 'h', 'sec-websocket-protocol': 'bearer.s3cret, chat' }
  t.same(visibleRequest(headers, '/a?access_token=s3cret&x=1', []), { headers: { host: 'h', 'sec-websocket-protocol': 'chat' }, url: '/a?x=1' })
  t.same(visibleRequest({ 'sec-websocket-protocol': 'bearer.s3cret' }, '/a', []).headers, {})
  t.same(visibleRequest(headers, '/a?access_token=s3cret', ['authorization', 'cookie', 'access_token']), { headers, url: '/a?access_token=s3cret' })
})
