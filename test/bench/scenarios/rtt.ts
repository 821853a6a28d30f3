import { beforeDeadline, connectClient, formatCount, unlessClosed } from './helpers.js'
import type { Scenario } from './types.js'
import { percentile } from '../stats.js'

const PAYLOAD = Buffer.from('0123456789abcdefghijklmnopqrstuv')

/**
 * Sequential echo round trips of a 32-byte message through `cat`: latency once both servers are
 * warm (after `rttWarmupTrips`), and the tail of those first round trips on a fresh server, when
 * a JIT compiler (node's, not Go's) is still at work.
 */
export const rtt: Scenario = {
  name: 'rtt',
  describe: (c) => `${formatCount(c.rttWarmupTrips)} sequential round trips of 32 bytes through cat on a fresh server (cold p99), then ${formatCount(c.rttTrips)} more: p50/p99 µs`,
  metrics: [
    { key: 'p50Us', label: 'round trip p50', unit: 'µs', better: 'lower' },
    { key: 'p99Us', label: 'round trip p99', unit: 'µs', better: 'lower' },
    { key: 'coldP99Us', label: 'round trip p99, first trips of a fresh server', unit: 'µs', better: 'lower' }
  ],
  route: () => ({ path: '/cat', argv: ['/usr/bin/cat'] }),
  timeoutMs: () => 60_000,
  async run (ctx) {
    const { rttTrips, rttWarmupTrips } = ctx.counts
    let onEcho: ((payload: Buffer) => void) | undefined
    const client = await connectClient(ctx, (payload) => { onEcho?.(payload) })
    const samplesUs: number[] = []
    const coldSamplesUs: number[] = []
    const notes: string[] = []
    try {
      for (let i = 0; i < rttWarmupTrips + rttTrips && !ctx.signal.aborted; i++) {
        const echoed = new Promise<Buffer>((resolve) => { onEcho = resolve })
        const startNs = process.hrtime.bigint()
        client.sendText(PAYLOAD)
        const payload = await beforeDeadline(unlessClosed(echoed, client), ctx.signal, 'round trip')
        const us = Number(process.hrtime.bigint() - startNs) / 1000
        if (!payload.equals(PAYLOAD)) throw new Error(`echo differs: ${JSON.stringify(payload.toString())}`)
        if (i >= rttWarmupTrips) samplesUs.push(us)
        else coldSamplesUs.push(us)
      }
    } finally {
      client.destroy()
    }
    if (samplesUs.length < rttTrips) notes.push(`only ${samplesUs.length} of ${rttTrips} round trips`)
    return { values: { p50Us: percentile(samplesUs, 50), p99Us: percentile(samplesUs, 99), coldP99Us: percentile(coldSamplesUs, 99) }, notes }
  }
}
