import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { connect, type Client } from '../helpers/client.js'
import { exitCode, logged, serve, STOP_DEADLINE_MS, type Served } from '../helpers/served.js'

/** What became of one connection: a running session, a close before or after the open, or a refused connection. */
async function outcome (c: Client): Promise<'running' | { code: number, reason: string }> {
  c.ws.on('error', () => {})
  const refused = { code: 1006, reason: 'no connection' }
  const first = await Promise.race([c.opened.then(() => 'open' as const), c.closed]).catch(() => refused)
  if (first !== 'open') return first
  c.ws.send('ping')
  return await Promise.race([c.received(1).then(() => 'running' as const), c.closed])
}

/** Lowers the soft and hard descriptor limits of a running server (after its budget was read at start-up). */
function lowerLimit (s: Served, limit: number): void {
  execFileSync('prlimit', ['--pid', String(s.child.pid), `--nofile=${limit}:${limit}`])
}

t.test('out of descriptors after start-up (limit lowered to 256): sessions close 1011 spawn failed, the server serves on', async (t) => {
  const s = await serve(t, 'maxSessions: 1000\nmaxSessionsPerClient: 1000\nroutes:\n  /cat:\n    command: [cat]\n', { drainTimeout: '1s' })
  lowerLimit(s, 256)
  const clients: Client[] = []
  const closes: Array<{ code: number, reason: string }> = []
  let running = 0
  for (let i = 0; i < 300; i++) {
    const c = connect(`${s.url}/cat`)
    const result = await outcome(c)
    if (result === 'running') {
      running++
      clients.push(c)
    } else {
      closes.push(result)
    }
    if (s.child.exitCode !== null) break
  }
  t.equal(s.child.exitCode, null, 'the server still runs')
  const failed = closes.filter((c) => c.code === 1011)
  t.ok(running > 0, `${running} sessions run`)
  t.ok(failed.length > 0, `${failed.length} sessions could not get a process`)
  t.ok(failed.every((c) => /^spawn failed: (EMFILE|ENFILE|EAGAIN)$/.test(c.reason)), 'each says why: spawn failed: EMFILE')
  t.ok(closes.every((c) => c.code === 1011 || c.code === 1006), 'the others were dropped before their upgrade (accept: EMFILE)')
  t.equal(running + closes.length, 300)

  // Descriptors free again: sessions open again.
  // Their own deadlines started with the connection: wait for these closes from now on.
  const closed = clients.map((c) => once(c.ws, 'close', { signal: AbortSignal.timeout(STOP_DEADLINE_MS) }))
  for (const c of clients) c.ws.close()
  await Promise.all(closed)
  await logged(s, 'session end', STOP_DEADLINE_MS, running + failed.length)
  const again = connect(`${s.url}/cat`)
  await again.opened
  again.ws.send('back')
  t.same(await again.received(1), ['back'], 'a new session runs')
  again.ws.close()
  await again.closed
  s.child.kill('SIGTERM')
  t.equal(await exitCode(s), 0, 'stopped cleanly')
  t.ok(s.records.some((r) => r['msg'] === 'spawn failed' && (r['err'] as { code: string }).code === 'EMFILE'), 'logged as spawn failed: EMFILE')
})

t.test('out of descriptors after start-up with spawners: 0: the start in the server process is not tried, 1011 spawn failed', async (t) => {
  const s = await serve(t, 'spawners: 0\nmaxSessions: 1000\nmaxSessionsPerClient: 1000\nroutes:\n  /cat:\n    command: [cat]\n', { drainTimeout: '1s' })
  lowerLimit(s, 256)
  const clients: Client[] = []
  let failed: { code: number, reason: string } | undefined
  for (let i = 0; i < 300 && failed === undefined; i++) {
    const c = connect(`${s.url}/cat`)
    const result = await outcome(c)
    if (result === 'running') clients.push(c)
    else if (result.code === 1011) failed = result
  }
  t.same(failed, { code: 1011, reason: 'spawn failed: EMFILE' }, 'a session could not get a process')
  const closed = clients.map((c) => once(c.ws, 'close', { signal: AbortSignal.timeout(STOP_DEADLINE_MS) }))
  for (const c of clients) c.ws.close()
  await Promise.all(closed)
  s.child.kill('SIGTERM')
  t.equal(await exitCode(s), 0, 'stopped cleanly')
})
