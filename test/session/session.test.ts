import { once } from 'node:events'
import t, { type Test } from 'tap'
import { INPUT_HIGH_WATER_BYTES } from '../../src/session/input.js'
import { OUTPUT_HIGH_WATER_BYTES } from '../../src/session/connection.js'
import type { Session } from '../../src/session/session.js'
import { connect, DEADLINE_MS, until } from '../helpers/client.js'
import { watchFlow } from '../helpers/flow.js'
import { closeCodeOf, frame, rawUpgrade } from '../helpers/raw.js'
import { decodeFrames } from '../helpers/receiver.js'
import { childrenOf, isRunning, openDescriptors } from '../helpers/processes.js'
import { node, startServer } from '../helpers/server.js'

/** What the server may hold for one session beyond the high-water mark: one pipe read of frames. */
const SLACK_BYTES = 128 * 1024

function only (t: Test, sessions: ReadonlySet<Session>): Session {
  t.equal(sessions.size, 1, 'one session')
  return [...sessions][0] as Session
}

t.test('a client that stops reading stops the program: bounded memory, nothing lost', async (t) => {
  const s = await startServer(t, `/yes:\n  command: ${node('yes.mjs')}\n  closeGrace: 100ms\n  killGrace: 100ms\n`)
  const c = connect(`${s.url}/yes`)
  await c.opened
  const session = only(t, s.app.wsexec.sessions)
  const flow = watchFlow(t)
  for (let round = 0; round < 3; round++) {
    const paused = flow.next('output-paused', session.id)
    c.ws.pause()
    const held = (await paused).toClient
    t.ok(held <= OUTPUT_HIGH_WATER_BYTES + SLACK_BYTES, `round ${round}: the server holds ${held} bytes for the client`)
    // Read until the server reads the program again, then stop again: it is held back each time.
    const resumed = flow.next('output-resumed', session.id)
    c.ws.resume()
    await resumed
  }
  const lines = c.messages.slice(0, 50_000)
  t.ok(lines.every((m, i) => m === `y ${i}`), 'every line in order, none lost')
  c.ws.terminate()
  const summary = await session.done
  t.equal(summary.closedBy, 'client')
  t.ok(summary.exitCode !== 0 || summary.signal !== null, 'the endless program was ended')
})

for (const [messages, size] of [[100, 64 * 1024], [16_000, 1024]] as const) {
  t.test(`a program that stops reading stops the client: bounded memory, nothing lost (${messages} messages of ${size} bytes)`, async (t) => {
    const s = await startServer(t, `/sleepy:\n  command: ${node('sleep-stdin.mjs', String(messages * (size + 1)))}\n  killGrace: 100ms\n`)
    const c = connect(`${s.url}/sleepy`)
    await c.received(1)
    const session = only(t, s.app.wsexec.sessions)
    const paused = watchFlow(t).next('input-paused', session.id)
    const payload = 'x'.repeat(size)
    for (let i = 0; i < messages; i++) c.ws.send(payload)
    const held = (await paused).toProgram
    t.ok(held <= INPUT_HIGH_WATER_BYTES + 2 * size + SLACK_BYTES, `the server holds ${held} bytes for the program`)
    t.ok(c.ws.bufferedAmount > 10 * size, `the client is held back with ${c.ws.bufferedAmount} bytes unsent`)
    process.kill(session.pid as number, 'SIGUSR1')
    t.same(await c.received(2), ['ready', String(messages * (size + 1))], 'the program got every byte')
    c.ws.close()
    await session.done
  })
}

t.test('many small messages in few socket reads, with a ping among them: every line reaches the program', async (t) => {
  const s = await startServer(t, `/count:\n  command: ${node('count.mjs')}\n`)
  const c = await rawUpgrade(s.port, '/count')
  const lines = Array.from({ length: 20_000 }, (_, i) => frame(0x1, Buffer.from(`line ${i}`)))
  lines.splice(10_000, 0, frame(0x9, Buffer.from('alive?')))
  lines.push(frame(0x1, Buffer.from('END')))
  // One write: the server reads it in chunks that cut frames anywhere.
  c.socket.write(Buffer.concat(lines))
  while (closeCodeOf(c.received()) === undefined) await once(c.socket, 'data', { signal: AbortSignal.timeout(DEADLINE_MS) })
  c.socket.destroy()
  const received = c.received()
  t.ok(received.includes(Buffer.from([0x8a, 6, ...Buffer.from('alive?')])), 'the ping is answered')
  const frames = received.subarray(received.indexOf('\r\n\r\n') + 4)
  t.same(decodeFrames(frames).map((m) => m.data.toString()), ['20000'], 'the program counted every line')
  t.equal(closeCodeOf(received), 1000, 'the program exited 0')
})

t.test('input that arrives in the tick the session is shut down is dropped', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n  killGrace: 100ms\n')
  const c = connect(`${s.url}/cat`)
  await c.opened
  const session = only(t, s.app.wsexec.sessions)
  const [serverSide] = s.app.websocketServer.clients
  // Runs right after the session's own message listener, before its input is flushed.
  serverSide?.on('message', () => session.shutdown())
  c.ws.send('too late')
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.match(await session.done, { in: { messages: 1 }, out: { messages: 0 } })
})

t.test('client leaves: stdin is closed and a program that exits on EOF ends cleanly', async (t) => {
  // A long closeGrace: cat must end by EOF alone, however busy the machine (no signal is sent).
  const s = await startServer(t, '/cat:\n  command: [cat]\n  closeGrace: 30s\n')
  const c = connect(`${s.url}/cat`)
  await c.opened
  const session = only(t, s.app.wsexec.sessions)
  c.ws.close(1000, 'bye')
  t.match(await session.done, { exitCode: 0, signal: null, closeCode: 1000, closedBy: 'client' })
})

t.test('client leaves: a program that ignores SIGTERM is killed after killGrace', async (t) => {
  const s = await startServer(t, `/stubborn:\n  command: ${node('ignore-term.mjs')}\n  closeGrace: 50ms\n  killGrace: 200ms\n`)
  const c = connect(`${s.url}/stubborn`)
  await c.received(1)
  const session = only(t, s.app.wsexec.sessions)
  const pid = session.pid as number
  c.ws.terminate()
  t.match(await session.done, { signal: 'SIGKILL', closedBy: 'client', closeCode: 1006 })
  t.notOk(isRunning(pid))
})

t.test('background grandchildren end with the session', async (t) => {
  const s = await startServer(t, `
/stay:
  command: ${node('grandchild.mjs', 'stay')}
  closeGrace: 50ms
  killGrace: 200ms
/leave:
  command: ${node('grandchild.mjs', 'exit')}
  killGrace: 200ms
`)
  const stay = connect(`${s.url}/stay`)
  const [grandchild] = await stay.received(1)
  const pid = Number(grandchild)
  t.ok(isRunning(pid), 'the grandchild runs')
  stay.ws.terminate()
  await until(() => !isRunning(pid), `grandchild ${pid} to end`)
  t.pass('the client left: the grandchild ended')

  const leave = connect(`${s.url}/leave`)
  t.same(await leave.closed, { code: 1000, reason: 'exit 0' }, 'the program exited by itself')
  const orphan = Number(leave.messages[0])
  await until(() => !isRunning(orphan), `grandchild ${orphan} to end`)
  t.pass('the program exited: its grandchild ended too')
})

t.test('300 abrupt disconnects leave no process, no zombie and no descriptor behind', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n  closeGrace: 100ms\n  killGrace: 200ms\n')
  const warm = connect(`${s.url}/cat`)
  await warm.opened
  warm.ws.close()
  await warm.closed
  await Promise.all([...s.app.wsexec.sessions].map((x) => x.done))
  const descriptors = openDescriptors()
  const pids: number[] = []
  for (let i = 0; i < 300; i++) {
    const c = connect(`${s.url}/cat`)
    await c.opened
    // A spawner answers after the open: the disconnect comes once the program runs.
    const session = [...s.app.wsexec.sessions].at(-1)
    await until(() => session?.pid !== undefined, 'the program to start')
    pids.push(session?.pid as number)
    c.ws.terminate()
    await c.closed
  }
  await Promise.all([...s.app.wsexec.sessions].map((x) => x.done))
  t.equal(s.app.wsexec.sessions.size, 0, 'every session ended')
  t.equal(pids.filter(isRunning).length, 0, 'no program is left running')
  t.same(childrenOf(process.pid).filter((p) => p.state === 'Z'), [], 'no zombie')
  await until(() => openDescriptors() <= descriptors, 'descriptors to be released')
  t.ok(openDescriptors() <= descriptors, 'no descriptor leaked')
  t.equal(s.logs.filter((r) => r.msg === 'session end').length, 301)
})
