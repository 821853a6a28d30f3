import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import t from 'tap'
import { ConnectionCap } from '../../src/server/connection-cap.js'
import { rawConnect } from '../helpers/raw.js'

t.test('over the cap on TLS: the connection is closed without an answer (a plain one would be garbage there)', async (t) => {
  const served: unknown[] = []
  const server = createServer((socket) => { served.push(socket) })
  let refused = 0
  const cap = new ConnectionCap(server, true, () => { refused++ })
  cap.max = 1
  t.equal(cap.max, 1)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const first = await rawConnect(port)
  t.teardown(() => first.socket.destroy())
  const over = await rawConnect(port)
  await over.closed
  t.equal(over.received().length, 0, 'nothing was written')
  t.equal(refused, 1, 'counted')
  t.equal(served.length, 1, 'only the first was served')
  t.equal(cap.open, 1)
})
