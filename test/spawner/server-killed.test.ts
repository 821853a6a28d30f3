import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { isRunning } from '../helpers/processes.js'
import { logged, serve } from '../helpers/served.js'
import { node } from '../helpers/server.js'

t.test('the server killed with SIGKILL: the spawner ends every program and its background children, then exits', async (t) => {
  const served = await serve(t, `
spawners: 1
routes:
  /hold:
    command: ${node('grandchild.mjs')}
    killGrace: 500ms
  /stubborn:
    command: ${node('ignore-term.mjs')}
    killGrace: 500ms
`, { drainTimeout: '1s' })
  const hold = connect(`${served.url}/hold`)
  const grandchild = Number((await hold.received(1))[0])
  const stubborn = connect(`${served.url}/stubborn`)
  await stubborn.received(1)
  const programs = [grandchild]
  for (let i = 1; i <= 2; i++) programs.push((await logged(served, 'session start', undefined, i))['childPid'] as number)
  t.ok(programs.every(isRunning), 'the programs run')
  served.child.kill('SIGKILL')
  await served.exited
  await until(() => !programs.some(isRunning), 'every program to end')
  t.pass('no session program is left, SIGTERM-ignoring ones included')
})
