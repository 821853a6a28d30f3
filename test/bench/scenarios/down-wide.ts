import { join } from 'node:path'
import { receiveAll } from './receive-all.js'
import { formatCount } from './helpers.js'
import type { Scenario } from './types.js'

/** Lines of 1 KiB printed by a fixture: bulk throughput from server to client. */
export const downWide: Scenario = {
  name: 'down-wide',
  describe: (c) => `${formatCount(c.wideLines)} lines of ${formatCount(c.wideLineBytes)} bytes printed to the client: payload MB/s`,
  metrics: [{ key: 'megabytesPerSec', label: 'payload MB/s', unit: 'MB/s', better: 'higher' }],
  route: ({ counts, fixturesDir }) => ({
    path: '/wide',
    argv: [process.execPath, join(fixturesDir, 'wide-lines.mjs'), String(counts.wideLines), String(counts.wideLineBytes)]
  }),
  timeoutMs: () => 120_000,
  async run (ctx) {
    const { wideLines, wideLineBytes } = ctx.counts
    const received = await receiveAll(ctx)
    const notes = received.messages === wideLines && received.payloadBytes === wideLines * wideLineBytes
      ? []
      : [`received ${received.messages} of ${wideLines} messages, ${received.payloadBytes} bytes (${received.ending})`]
    return { values: { megabytesPerSec: received.payloadBytes / 1e6 / (received.elapsedMs / 1000) }, notes }
  }
}
