import { once } from 'node:events'
import t, { type Test } from 'tap'
import { connect, type Client } from './helpers/client.js'
import { isRunning } from './helpers/processes.js'
import { closeCodeOf, rawUpgrade, type RawConnection } from './helpers/raw.js'
import { exitCode, logged, serve, STOP_DEADLINE_MS, type Served } from './helpers/served.js'
import { node } from './helpers/server.js'

/** Routes whose sessions can be left in every odd state a stop has to get past. */
const ODD_ROUTES = `maxSessionsPerClient: 1000
routes:
  /any/:x:
    command: [echo, "{x}"]
    params: { x: "[^/]+" }
    killGrace: 500ms
  /stubborn:
    command: ${node('ignore-term.mjs')}
    killGrace: 500ms
  /flood:
    command: ${node('yes.mjs')}
    killGrace: 500ms
  /orphan:
    command: ${node('setsid-orphan.mjs', 'stay')}
    closeGrace: 200ms
    killGrace: 200ms
`

/** Sessions in odd states: spawn failed with a client that never answers the close, a program that ignores SIGTERM, a client that stops reading a flood, a grandchild of its own session holding stdout. */
async function oddSessions (t: Test, s: Served): Promise<{ silent: RawConnection, stubborn: Closing, orphan: Closing }> {
  const silent = await rawUpgrade(s.port, '/any/a%00b')
  const stubborn = connect(`${s.url}/stubborn`)
  const stubbornClosed = closing(stubborn)
  t.same(await stubborn.received(1), ['ready'])
  const flood = await rawUpgrade(s.port, '/flood')
  flood.socket.pause()
  const orphan = connect(`${s.url}/orphan`)
  const orphanClosed = closing(orphan)
  const pid = Number((await orphan.received(1))[0])
  t.teardown(() => { if (isRunning(pid)) process.kill(pid, 'SIGKILL') })
  return { silent, stubborn: stubbornClosed, orphan: orphanClosed }
}

type Closing = Promise<{ code: number, reason: string }>

/** The client's close, waited for until the stop's own deadline (the client's is counted from its connection). */
function closing (c: Client): Closing {
  const closed = once(c.ws, 'close', { signal: AbortSignal.timeout(STOP_DEADLINE_MS) }).then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  closed.catch(() => {})
  return closed
}

t.test('SIGTERM: the drain ends, whatever state the sessions are in, with exit code 0', async (t) => {
  const s = await serve(t, ODD_ROUTES, { drainTimeout: '1s' })
  const { silent, stubborn, orphan } = await oddSessions(t, s)
  s.child.kill('SIGTERM')
  t.equal(await exitCode(s), 0, 'exit code 0')
  t.equal(closeCodeOf(silent.received()), 1011, 'the session whose program could not start got 1011')
  t.same(await stubborn, { code: 1001, reason: 'server shutting down' })
  t.same(await orphan, { code: 1001, reason: 'server shutting down' })
  const draining = await logged(s, 'draining')
  const stopped = await logged(s, 'stopped')
  t.comment(`stopped ${Number(stopped['time']) - Number(draining['time'])} ms after SIGTERM (drainTimeout 1 s, killGrace 0.5 s)`)
})

t.test('a second signal ends the process at once, without waiting for the drain', async (t) => {
  const s = await serve(t, ODD_ROUTES, { drainTimeout: '10m' })
  const { stubborn } = await oddSessions(t, s)
  s.child.kill('SIGTERM')
  await logged(s, 'draining')
  s.child.kill('SIGINT')
  t.equal(await exitCode(s), 0, 'exit code 0, long before the 10 minutes of drainTimeout')
  t.equal((await stubborn).code, 1001)
  await logged(s, 'second signal: killing every session now')
})
