import type { Test } from 'tap'
import { childrenOf } from './processes.js'
import { connect, until } from './client.js'
import type { TestServer } from './server.js'

/**
 * Proves the server is unharmed after an attack: every session has ended, no program of this
 * test process is left (not even a zombie), and `path` (a `cat` route) still echoes.
 */
export async function stillServes (t: Test, s: TestServer, path = '/echo', options: import('ws').ClientOptions = {}): Promise<void> {
  await until(() => s.app.wsexec.sessions.size === 0, 'every session to end')
  await until(() => childrenOf(process.pid).length === 0, 'every program to end')
  t.same(childrenOf(process.pid), [], 'no process left behind')
  const c = connect(`${s.url}${path}`, options)
  await c.opened
  c.ws.send('still serving')
  t.same(await c.received(1), ['still serving'], 'the server still serves')
  c.ws.close()
  await c.closed
}
