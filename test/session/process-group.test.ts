import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { ProcessGroup } from '../../src/session/process-group.js'
import { fixture } from '../helpers/server.js'
import { isRunning } from '../helpers/processes.js'
import { until } from '../helpers/client.js'

t.test('terminate: SIGTERM, then SIGKILL after the grace period', async (t) => {
  const child = spawn(process.execPath, [fixture('ignore-term.mjs')], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
  await once(child.stdout, 'data')
  const group = new ProcessGroup(child.pid as number, 100)
  t.ok(group.signal(0), 'the group exists')
  group.terminate()
  group.terminate()
  const [, signal] = await once(child, 'exit') as [number | null, string]
  t.equal(signal, 'SIGKILL')
  t.notOk(group.signal(0), 'the group is gone')
})

t.test('terminate: nothing stays pending once the group is empty', async (t) => {
  const child = spawn('sleep', ['30'], { detached: true })
  const group = new ProcessGroup(child.pid as number, 60_000)
  const before = timers()
  group.terminate()
  const [, signal] = await once(child, 'exit') as [number | null, string]
  t.equal(signal, 'SIGTERM')
  // Seen from outside: the group's check timer is the only timer this test starts.
  await until(() => timers() === before, 'the pending SIGKILL to be dropped')
  t.equal(timers(), before, 'no timer left for a SIGKILL')
})

t.test('kill: SIGKILL now, and no later signal', async (t) => {
  const child = spawn(process.execPath, [fixture('ignore-term.mjs')], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
  await once(child.stdout, 'data')
  const group = new ProcessGroup(child.pid as number, 60_000)
  group.terminate()
  group.kill()
  const [, signal] = await once(child, 'exit') as [number | null, string]
  t.equal(signal, 'SIGKILL')
  await until(() => !isRunning(child.pid as number), 'the process to go')
})

t.test('terminating an empty group does nothing', async (t) => {
  const child = spawn('true', { detached: true })
  await once(child, 'exit')
  const group = new ProcessGroup(child.pid as number, 10)
  group.terminate()
  t.notOk(group.signal(0))
})

t.test('a group found empty is never signalled again: its id may be a new process\'s by then', async (t) => {
  const child = spawn('true', { detached: true })
  await once(child, 'exit')
  const group = new ProcessGroup(child.pid as number, 10)
  t.notOk(group.signal(0), 'found empty')
  // Whatever holds that id from now on is not this program's.
  const kills = t.capture(process, 'kill')
  group.terminate()
  group.kill()
  t.notOk(group.signal('SIGTERM'))
  t.same(kills(), [], 'no signal sent')
})

/** The timers this process holds now (Node's count of active Timeout resources). */
function timers (): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}
