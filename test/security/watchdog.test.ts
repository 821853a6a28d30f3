import t, { type Test } from 'tap'
import { connect, until } from '../helpers/client.js'
import { isRunning } from '../helpers/processes.js'
import { frame, rawUpgrade, type RawConnection } from '../helpers/raw.js'
import { stillServes } from '../helpers/security.js'
import { node, startServer, type TestServer } from '../helpers/server.js'

const YAML = `pingInterval: 100ms
idleTimeout: 300ms
routes:
  /echo:
    command: [cat]
    closeGrace: 100ms
  /stubborn:
    command: ${node('ignore-term.mjs')}
    killGrace: 100ms
    idleTimeout: 0
  /lifetime:
    command: [cat]
    idleTimeout: 0
    maxLifetime: 200ms
  /small:
    command: [cat]
    maxMessageBytes: 4
`

t.test('idle sessions close with 1000 idle timeout; activity keeps them open', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/echo`)
  await c.opened
  const [session] = s.app.wsexec.sessions
  // Traffic every 100 ms keeps the session past its 300 ms idle timeout.
  for (let i = 0; i < 5; i++) {
    c.ws.send(`tick ${i}`)
    await c.received(i + 1)
    await until(() => performance.now() - (session?.lastActivity as number) >= 100, 'a pause')
  }
  t.equal(c.messages.length, 5)
  t.same(await c.closed, { code: 1000, reason: 'idle timeout' })
  t.match(await session?.done, { closedBy: 'server', closeCode: 1000 })
  t.notOk(isRunning(session?.pid as number), 'the program ended')
  await stillServes(t, s)
})

t.test('maxLifetime ends a busy session', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/lifetime`)
  await c.opened
  const talk = setInterval(() => c.ws.send('x'), 20)
  t.teardown(() => clearInterval(talk))
  t.same(await c.closed, { code: 1000, reason: 'max lifetime' })
  clearInterval(talk)
  await stillServes(t, s)
})

t.test('a peer that stops answering pings is dropped and its process tree killed', async (t) => {
  const s = await startServer(t, YAML.replace('pingInterval: 100ms', 'pingInterval: 400ms'))
  // A raw client completes the handshake and then never answers a ping.
  const c = await rawUpgrade(s.port, '/stubborn')
  await until(() => c.received().includes('ready'), 'the program to be ready')
  const [session] = s.app.wsexec.sessions
  await c.closed
  t.match(await session?.done, { signal: 'SIGKILL', closedBy: 'server', closeCode: 1001 })
  t.ok(c.received().includes(Buffer.from([0x89, 0x00])), 'it was pinged')
  t.notOk(isRunning(session?.pid as number))
  await stillServes(t, s)
})

/** A raw client on a 50 ms heartbeat that answers each ping with `answer(n)`: still connected after four. */
async function answersPings (t: Test, answer: (n: number) => Buffer): Promise<{ s: TestServer, c: RawConnection }> {
  const s = await startServer(t, 'pingInterval: 50ms\nroutes:\n  /echo:\n    command: [cat]\n')
  const c = await rawUpgrade(s.port, '/echo')
  let pings = 0
  c.socket.on('data', (d: Buffer) => {
    for (let i = d.indexOf(0x89); i !== -1; i = d.indexOf(0x89, i + 1)) c.socket.write(answer(++pings))
  })
  await until(() => pings >= 4, 'four pings')
  t.notOk(c.socket.destroyed, 'still connected after four ping intervals')
  return { s, c }
}

t.test('a live peer answering pings stays; ping-answering raw clients too', async (t) => {
  const { s, c } = await answersPings(t, () => frame(0xa, Buffer.alloc(0)))
  c.socket.destroy()
  await stillServes(t, s)
})

t.test('a peer that answers pings with messages instead of pongs stays: its messages show it alive', async (t) => {
  const { s, c } = await answersPings(t, (n) => frame(0x1, Buffer.from(`still here ${n}`)))
  await until(() => c.received().includes('still here 3'), 'the messages to reach the program')
  c.socket.destroy()
  await stillServes(t, s)
})

t.test('a message over the route limit closes with 1009', async (t) => {
  const s = await startServer(t, YAML)
  const c = connect(`${s.url}/small`)
  await c.opened
  c.ws.send('1234')
  t.same(await c.received(1), ['1234'])
  c.ws.send('12345')
  t.same(await c.closed, { code: 1009, reason: 'message too big' })
  t.equal(c.messages.length, 1, 'the large message never reached the program')
  await stillServes(t, s)
})
