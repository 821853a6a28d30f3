import t from 'tap'
import { connect, until, type Client } from '../helpers/client.js'
import { node, startServer } from '../helpers/server.js'
import { capSide, TTY_SIDE_CAP } from '../../src/session/streams.js'

function screen (c: Client): string {
  return c.messages.map((m) => typeof m === 'string' ? m : m.toString('utf8').slice(1)).join('')
}

t.test('a terminal is at most 1000 columns by 1000 rows: from the query, a resize message and channel 4', async (t) => {
  t.equal(TTY_SIDE_CAP, 1000)
  t.equal(capSide(65535), 1000)
  t.equal(capSide(999), 999)
  const s = await startServer(t, `/tty:\n  command: ${node('tty.mjs')}\n  tty: true\n  protocols: [plain, v5.channel.k8s.io]\n`)
  const plain = connect(`${s.url}/tty?cols=65535&rows=5000`)
  await until(() => screen(plain).includes('name? '), 'the prompt')
  t.match(screen(plain), 'size 1000x1000', 'the query')
  plain.ws.send(JSON.stringify({ resize: { cols: 30000, rows: 40 } }))
  await until(() => screen(plain).includes('resized 1000x40'), `the resize; the screen shows ${screen(plain)}`)
  plain.ws.close()
  await plain.closed

  const channels = connect(`${s.url}/tty?stdin=1&stdout=1&tty=1`, {}, ['v5.channel.k8s.io'])
  await until(() => screen(channels).includes('name? '), 'the prompt')
  channels.ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":50,"Height":65535}')]))
  await until(() => screen(channels).includes('resized 50x1000'), `the channel 4 resize; the screen shows ${screen(channels)}`)
  channels.ws.close()
  await channels.closed
})
