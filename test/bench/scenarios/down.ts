import { receiveAll } from './receive-all.js'
import type { Scenario } from './types.js'

/** `seq 1 N` printed to the client: short-message throughput from server to client. */
export const down: Scenario = {
  name: 'down',
  describe: (c) => `seq 1 ${c.downLines} printed to the client: messages received per second`,
  metrics: [{ key: 'messagesPerSec', label: 'messages/s', unit: 'msg/s', better: 'higher' }],
  route: ({ counts }) => ({ path: '/down', argv: ['/usr/bin/seq', '1', String(counts.downLines)] }),
  timeoutMs: () => 120_000,
  async run (ctx) {
    const received = await receiveAll(ctx)
    const notes = received.messages === ctx.counts.downLines
      ? []
      : [`received ${received.messages} of ${ctx.counts.downLines} messages (${received.ending})`]
    return { values: { messagesPerSec: received.messages / (received.elapsedMs / 1000) }, notes }
  }
}
