import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { isRunning, openDescriptors } from '../helpers/processes.js'
import { node, startServer } from '../helpers/server.js'

t.test('a grandchild in a session of its own that keeps stdout open holds neither the session nor a descriptor', async (t) => {
  const s = await startServer(t, `
/exits:
  command: ${node('setsid-orphan.mjs', 'exit')}
  closeGrace: 100ms
  killGrace: 100ms
/stays:
  command: ${node('setsid-orphan.mjs', 'stay')}
  closeGrace: 5s
  killGrace: 100ms
/cat:
  command: [cat]
`)
  const warm = connect(`${s.url}/cat`)
  await warm.opened
  warm.ws.close()
  await warm.closed
  await until(() => s.app.wsexec.sessions.size === 0, 'the warm-up session to end')
  const descriptors = openDescriptors()
  const orphans: number[] = []
  t.teardown(() => { for (const pid of orphans) process.kill(pid, 'SIGKILL') })

  const exits = connect(`${s.url}/exits`)
  orphans.push(Number((await exits.received(1))[0]))
  t.same(await exits.closed, { code: 1000, reason: 'exit 0' }, 'the program exited: the session ends though its stdout is still open')
  t.ok(isRunning(orphans[0] as number), 'the orphan runs on, outside the process group')
  await until(() => s.app.wsexec.sessions.size === 0, 'the session to end')
  await until(() => openDescriptors() <= descriptors, 'the pipes to be released')
  t.pass('no descriptor is held for the orphan')

  const stays = connect(`${s.url}/stays`)
  orphans.push(Number((await stays.received(1))[0]))
  const [session] = s.app.wsexec.sessions
  // The program exits when its stdin ends: closeGrace leaves it time to, however loaded the machine.
  stays.ws.close()
  t.match(await session?.done, { exitCode: 0, closedBy: 'client' }, 'the client left, stdin ended, the program exited')
  await until(() => openDescriptors() <= descriptors, 'the pipes to be released')
  t.pass('no descriptor is held for the orphan once the session is done')
})
