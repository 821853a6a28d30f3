import { pino } from 'pino'
import t from 'tap'
import { loadConfigText } from '../../src/config/pipeline.js'
import * as receive from '../../src/session/receive.js'
import type { buildServer as BuildServer } from '../../src/server/build.js'
import { connect } from '../helpers/client.js'
import { parseExposition, valueOf } from '../helpers/metrics.js'
import { logSink, startServer, type LogRecord } from '../helpers/server.js'

async function metric (url: string): Promise<number> {
  const samples = parseExposition(await (await fetch(`${url.replace('ws:', 'http:')}/metrics`)).text())
  return valueOf(samples, 'wsexec_fast_receive_active')
}

t.test('wsexec_fast_receive_active is 1 on the ws the fast path was written for', async (t) => {
  const s = await startServer(t, '/cat:\n  command: [cat]\n')
  t.equal(await metric(s.url), 1)
  t.notOk(s.logs.some((r) => r.msg === 'fast receive off'))
})

t.test('on another ws version: logged once, the metric is 0, and ws reads every frame', async (t) => {
  // The server as it would start next to ws 8.24.0.
  class OtherWs extends receive.FastReceive {
    constructor (onInactive: (reason: string) => void) {
      super(onInactive, '8.24.0')
    }
  }
  // The server's state makes the FastReceive: mock it there, and build a server on that state.
  const state = await t.mockImport<Record<string, unknown>>('../../src/server/state.js', {
    '../../src/session/receive.js': { ...receive, FastReceive: OtherWs }
  })
  const { buildServer } = await t.mockImport<{ buildServer: typeof BuildServer }>('../../src/server/build.js', {
    '../../src/server/state.js': state
  })
  const logs: LogRecord[] = []
  const config = await loadConfigText('routes:\n  /cat:\n    command: [cat]\n', {}, { source: 'test.yaml', baseDir: '/', env: { PATH: process.env['PATH'] } })
  const app = await buildServer(config, { logger: pino(logSink(logs)), env: { PATH: process.env['PATH'] } })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  t.equal(await metric(url), 0)
  const c = connect(`${url}/cat`)
  await c.opened
  for (let i = 0; i < 100; i++) c.ws.send(`line ${i}`)
  t.same(await c.received(100), Array.from({ length: 100 }, (_, i) => `line ${i}`), 'every message through ws alone')
  c.ws.close()
  await c.closed
  t.match(logs.filter((r) => r.msg === 'fast receive off'), [{ reason: /ws 8\.24\.0/ }], 'logged once')
})
