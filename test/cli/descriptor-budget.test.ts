import { once } from 'node:events'
import t from 'tap'
import WebSocket from 'ws'
import { connect } from '../helpers/client.js'
import { exitCode, logged, serve, STOP_DEADLINE_MS } from '../helpers/served.js'

/** How long one of 300 clients at once may take on a loaded machine. */
const BURST_DEADLINE_MS = 180_000

/** One of a burst: `running` (its line came back; the socket is kept open), the refusal's status, or the close before its echo. */
async function burstClient (url: string, line: string): Promise<{ ws: WebSocket } | { status: number } | { code: number, reason: string } | { error: string }> {
  const ws = new WebSocket(url)
  const signal = AbortSignal.timeout(BURST_DEADLINE_MS)
  const closed = once(ws, 'close', { signal }).then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  const refused = once(ws, 'unexpected-response', { signal }).then(([, res]) => ({ status: (res as { statusCode: number }).statusCode }))
  const echoed = once(ws, 'open', { signal }).then(async () => {
    const message = once(ws, 'message', { signal })
    ws.send(line)
    await message
    return { ws }
  })
  // 'error' rejects the waits above: a reset before any answer, or the deadline.
  return await Promise.race([refused, echoed, closed]).catch((err: Error) => ({ error: err.message }))
}

for (const spawners of [2, 0]) {
  t.test(`a server under prlimit --nofile=256 (spawners: ${spawners}), 300 clients at once: what the budget admits echoes, the rest is refused 503 or closed 1013, the server lives and recovers`, async (t) => {
    const s = await serve(t, `spawners: ${spawners}\nmaxSessions: 1000\nmaxSessionsPerClient: 1000\nroutes:\n  /cat:\n    command: [cat]\n`, { drainTimeout: '1s', prlimit: ['--nofile=256:256'] })
    const warning = s.records.find((r) => r['msg'] === 'descriptor limit too low for the configured limits')
    t.match(warning, { level: 40, descriptorLimit: 256, maxSessions: Number, maxConnections: Number, configured: { maxSessions: 1000, maxConnections: 2000 }, raise: /ulimit -n \d+ .*LimitNOFILE=\d+ .*--ulimit nofile=\d+/ }, 'one warning at start-up names the limit, what fits and how to raise it')
    const budget = warning?.['maxSessions'] as number
    const outcomes = await Promise.all(Array.from({ length: 300 }, async (_, i) => burstClient(`${s.url}/cat`, `line ${i}`)))
    t.equal(s.child.exitCode, null, 'the server still runs')
    const running = outcomes.filter((o): o is { ws: WebSocket } => 'ws' in o)
    const others = outcomes.filter((o) => !('ws' in o))
    t.ok(running.length > 0 && running.length <= budget, `${running.length} sessions echo (the budget: ${budget})`)
    t.same(others.filter((o) => !(('status' in o && o.status === 503) || ('code' in o && o.code === 1013))), [], 'every other client was refused 503 or closed 1013')
    const closed = running.map(async ({ ws }) => once(ws, 'close', { signal: AbortSignal.timeout(STOP_DEADLINE_MS) }))
    for (const { ws } of running) ws.close()
    await Promise.all(closed)
    await logged(s, 'session end', STOP_DEADLINE_MS, running.length)
    const again = connect(`${s.url}/cat`)
    await again.opened
    again.ws.send('back')
    t.same(await again.received(1), ['back'], 'a new session runs once the others closed')
    again.ws.close()
    await again.closed
    s.child.kill('SIGTERM')
    t.equal(await exitCode(s), 0, 'stopped cleanly')
  })
}
