import t from 'tap'
import { connect } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'

const EMPTY = Buffer.alloc(0)

t.test('wc -l answers after an empty binary message ends its input; output and exit status still arrive', async (t) => {
  const s = await startServer(t, '/wc:\n  command: [wc, -l]\n')
  const c = connect(`${s.url}/wc`)
  await c.opened
  for (const line of ['one', 'two', 'three']) c.ws.send(line)
  c.ws.send(EMPTY)
  t.same(await c.received(1), ['3'])
  t.match(await c.closed, { code: 1000, reason: 'exit 0' })
})

t.test('sort answers after the end of input', async (t) => {
  const s = await startServer(t, '/sort:\n  command: [sort]\n')
  const c = connect(`${s.url}/sort`)
  await c.opened
  for (const line of ['pear', 'apple', 'fig']) c.ws.send(line)
  c.ws.send(EMPTY)
  t.same(await c.received(3), ['apple', 'fig', 'pear'])
  t.match(await c.closed, { code: 1000 })
})

t.test('messages after the end of input are dropped, and a second end changes nothing', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n  mode: binary\n')
  const c = connect(`${s.url}/cat`)
  await c.opened
  c.ws.send(Buffer.from('kept\n'))
  c.ws.send(EMPTY)
  c.ws.send(Buffer.from('dropped\n'))
  c.ws.send(EMPTY)
  const { code } = await c.closed
  t.equal(code, 1000, 'cat saw the end of its input and exited 0')
  t.equal(Buffer.concat(c.messages as Buffer[]).toString(), 'kept\n', 'only what came before the end')
})

t.test('the end of input waits for input the program has not taken yet', async (t) => {
  const s = await startServer(t, '/wc:\n  command: [wc, -c]\n')
  const c = connect(`${s.url}/wc`)
  await c.opened
  const line = 'x'.repeat(100_000)
  // More than the pipe holds: the end must come after all of it.
  for (let i = 0; i < 10; i++) c.ws.send(line)
  c.ws.send(EMPTY)
  t.same(await c.received(1), [String(10 * (line.length + 1))])
  t.match(await c.closed, { code: 1000 })
})
