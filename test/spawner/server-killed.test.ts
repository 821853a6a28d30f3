import { fork } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { isRunning } from '../helpers/processes.js'
import { logged, serve } from '../helpers/served.js'
import { fixture, node } from '../helpers/server.js'

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

t.test('a server gone before the spawner saw its channel close (a reply fails with EPIPE): the spawner ends every program and exits quietly', async (t) => {
  const pidFile = join(t.testdir(), 'pid')
  const spawner = fork(fixture('spawner-epipe.mjs'), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' })
  t.teardown(() => { spawner.kill('SIGKILL') })
  let stderr = ''
  spawner.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const replies: Array<Record<string, unknown>> = []
  spawner.on('message', (message: Record<string, unknown>, handle?: Socket) => {
    replies.push(message)
    handle?.destroy()
  })
  const reply = async (type: string, id?: number): Promise<Record<string, unknown>> => {
    await until(() => replies.some((m) => m['t'] === type && m['id'] === id), `the spawner's ${type}`)
    return replies.find((m) => m['t'] === type && m['id'] === id) as Record<string, unknown>
  }
  const spec = (args: string[]): Record<string, unknown> => ({ file: '/bin/sh', args: ['-c', ...args], argv0: '/bin/sh', env: { PATH: process.env['PATH'] }, stderr: true, killGraceMs: 500 })
  await reply('ready')
  spawner.send({ t: 'spawn', id: 1, spec: spec(['exec sleep 60']) })
  const first = (await reply('started', 1))['pid'] as number
  t.ok(isRunning(first), 'the first program runs')
  spawner.kill('SIGUSR2')
  await reply('broken')
  // Its replies (the pipes, `started`) now fail.
  spawner.send({ t: 'spawn', id: 2, spec: spec(['echo $$ > "$0"; exec sleep 60', pidFile]) })
  await until(() => spawner.exitCode !== null, 'the spawner to exit')
  t.equal(spawner.exitCode, 0, 'it exits as when its channel closes')
  t.equal(stderr, '', 'no unhandled error')
  // The spawner exits once every group it started is gone; the second program may have been
  // ended before it wrote its pid.
  const second = existsSync(pidFile) ? [Number(readFileSync(pidFile, 'utf8'))] : []
  t.notOk([first, ...second].some(isRunning), 'no program is left')
})
