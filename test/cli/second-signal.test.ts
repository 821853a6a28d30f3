import t from 'tap'
import { exitCode, logged, oddSessions, ODD_ROUTES, serve, STOP_DEADLINE_MS } from '../helpers/served.js'

t.test('a second signal ends the process at once, without waiting for the drain', async (t) => {
  const s = await serve(t, ODD_ROUTES, { drainTimeout: '10m' })
  const { stubborn } = await oddSessions(t, s)
  s.child.kill('SIGTERM')
  await logged(s, 'draining', STOP_DEADLINE_MS)
  s.child.kill('SIGINT')
  t.equal(await exitCode(s), 0, 'exit code 0, long before the 10 minutes of drainTimeout')
  t.equal((await stubborn).code, 1001)
  await logged(s, 'second signal: killing every session now', STOP_DEADLINE_MS)
})
