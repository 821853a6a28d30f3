import { join } from 'node:path'
import { encodeMaskedBatch } from '../ws-frames.js'
import { beforeDeadline, connectClient, formatCount, unlessClosed } from './helpers.js'
import type { Scenario } from './types.js'

/** The client sends N lines and a final END to a line counter: throughput from client to server. */
export const up: Scenario = {
  name: 'up',
  describe: (c) => `${formatCount(c.upLines)} lines sent to a counter that prints the count at END: lines/s from first send to the count`,
  metrics: [{ key: 'linesPerSec', label: 'lines/s', unit: 'lines/s', better: 'higher' }],
  route: ({ fixturesDir }) => ({ path: '/count', argv: [process.execPath, join(fixturesDir, 'count-lines.mjs')] }),
  timeoutMs: () => 120_000,
  async run (ctx) {
    const lines = ctx.counts.upLines
    const payloads = Array.from({ length: lines }, (_, i) => Buffer.from(String(i)))
    payloads.push(Buffer.from('END'))
    // Encoded before the clock starts, so only sending and the server's work are timed.
    const chunks = encodeMaskedBatch(payloads)
    let resolveCount!: (text: string) => void
    const countText = new Promise<string>((resolve) => { resolveCount = resolve })
    const client = await connectClient(ctx, (payload) => { resolveCount(payload.toString()) })
    try {
      const startMs = performance.now()
      await client.sendEncoded(chunks, ctx.signal)
      const text = await beforeDeadline(unlessClosed(countText, client), ctx.signal, 'waiting for the count')
      const elapsedMs = performance.now() - startMs
      const notes = Number(text) === lines ? [] : [`counter saw ${text} lines, expected ${lines}`]
      return { values: { linesPerSec: lines / (elapsedMs / 1000) }, notes }
    } finally {
      client.destroy()
    }
  }
}
