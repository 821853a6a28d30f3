import { join } from 'node:path'
import { encodeMaskedBatch } from '../ws-frames.js'
import { beforeDeadline, connectClient, formatCount, unlessClosed } from './helpers.js'
import type { Scenario, ScenarioContext } from './types.js'

/**
 * The client sends N lines and a final END to a line counter: throughput from client to server.
 * Two sessions of N lines each run on the same server: the first shows a fresh server (wsexec's
 * JavaScript is not compiled yet), the second the steady state, as the other scenarios' warm-ups do.
 */
export const up: Scenario = {
  name: 'up',
  describe: (c) => `${formatCount(c.upLines)} lines sent to a counter that prints the count at END, twice: lines/s from first send to the count`,
  metrics: [
    { key: 'linesPerSec', label: 'lines/s', unit: 'lines/s', better: 'higher' },
    { key: 'firstLinesPerSec', label: 'lines/s, first session of a fresh server', unit: 'lines/s', better: 'higher' }
  ],
  route: ({ fixturesDir }) => ({ path: '/count', argv: [process.execPath, join(fixturesDir, 'count-lines.mjs')] }),
  timeoutMs: () => 120_000,
  async run (ctx) {
    const lines = ctx.counts.upLines
    const payloads = Array.from({ length: lines }, (_, i) => Buffer.from(String(i)))
    payloads.push(Buffer.from('END'))
    // Encoded before the clock starts, so only sending and the server's work are timed.
    const chunks = encodeMaskedBatch(payloads)
    const first = await countSession(ctx, chunks, lines)
    const second = await countSession(ctx, chunks, lines)
    return {
      values: { linesPerSec: second.linesPerSec, firstLinesPerSec: first.linesPerSec },
      notes: [...first.notes, ...second.notes]
    }
  }
}

/** One session: sends the encoded lines, waits for the count; lines/s from the first send to the count. */
async function countSession (ctx: ScenarioContext, chunks: readonly Buffer[], lines: number): Promise<{ linesPerSec: number, notes: string[] }> {
  let resolveCount!: (text: string) => void
  const countText = new Promise<string>((resolve) => { resolveCount = resolve })
  const client = await connectClient(ctx, (payload) => { resolveCount(payload.toString()) })
  try {
    const startMs = performance.now()
    await client.sendEncoded(chunks, ctx.signal)
    const text = await beforeDeadline(unlessClosed(countText, client), ctx.signal, 'waiting for the count')
    const elapsedMs = performance.now() - startMs
    const notes = Number(text) === lines ? [] : [`counter saw ${text} lines, expected ${lines}`]
    return { linesPerSec: lines / (elapsedMs / 1000), notes }
  } finally {
    client.destroy()
  }
}
