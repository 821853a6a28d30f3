import { createRequire } from 'node:module'
import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { node, startServer } from '../helpers/server.js'

// A file of its own: the module cache starts empty, so what the sessions load is all that is in it.

/** True once node-pty (its JavaScript, and so its native addon) is in the process. */
function nodePtyLoaded (): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('@lydell/node-pty'))
}

t.test('with spawners, the server never loads node-pty: its terminal sessions start in a spawner', async (t) => {
  const s = await startServer(t, `spawners: 1\nroutes:\n  /tty:\n    command: ${node('tty.mjs')}\n    tty: true\n`)
  const tty = connect(`${s.url}/tty`)
  await until(() => tty.messages.join('').includes('isatty true true'), 'the program to run on a terminal')
  t.notOk(nodePtyLoaded(), 'no node-pty in the server')
  tty.ws.close()
  await tty.closed
})

t.test('spawners: 0: node-pty is loaded by the first terminal session, not by a server that only runs pipe sessions', async (t) => {
  const s = await startServer(t, `spawners: 0\nroutes:\n  /echo:\n    command: [cat]\n  /tty:\n    command: ${node('tty.mjs')}\n    tty: true\n`)
  const pipe = connect(`${s.url}/echo`)
  await pipe.opened
  pipe.ws.send('hello')
  await pipe.received(1)
  t.equal(pipe.messages[0], 'hello', 'a pipe session runs')
  t.notOk(nodePtyLoaded(), 'no node-pty after a listening server and a pipe session')
  pipe.ws.close()
  await pipe.closed

  const tty = connect(`${s.url}/tty`)
  await tty.received(1)
  t.ok(nodePtyLoaded(), 'node-pty is loaded once a terminal session starts')
  tty.ws.close()
  await tty.closed
})
