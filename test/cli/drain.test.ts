import t from 'tap'
import { closeCodeOf } from '../helpers/raw.js'
import { exitCode, logged, oddSessions, ODD_ROUTES, serve, STOP_DEADLINE_MS } from '../helpers/served.js'

t.test('SIGTERM: the drain ends, whatever state the sessions are in, with exit code 0', async (t) => {
  const s = await serve(t, ODD_ROUTES, { drainTimeout: '1s' })
  const { silent, stubborn, orphan } = await oddSessions(t, s)
  s.child.kill('SIGTERM')
  t.equal(await exitCode(s), 0, 'exit code 0')
  t.equal(closeCodeOf(silent.received()), 1011, 'the session whose program could not start got 1011')
  t.same(await stubborn, { code: 1001, reason: 'server shutting down' })
  t.same(await orphan, { code: 1001, reason: 'server shutting down' })
  const draining = await logged(s, 'draining', STOP_DEADLINE_MS)
  const stopped = await logged(s, 'stopped', STOP_DEADLINE_MS)
  t.comment(`stopped ${Number(stopped['time']) - Number(draining['time'])} ms after SIGTERM (drainTimeout 1 s, killGrace 0.5 s)`)
})
