import { encodeMaskedFrame, Opcode } from '../ws-frames.js'
import { beforeDeadline, connectClient, formatCount, unlessClosed } from './helpers.js'
import type { Scenario } from './types.js'
import { percentile } from '../stats.js'

/** wsexec's limits raised above the line, so the line goes through whole (websocketd has none). */
const LIMIT_BYTES = 64 * 1024 * 1024

/**
 * One long line sent as one message and echoed by `cat` as one message, several times in a row:
 * the time of a round trip shows whether holding a partial line (and a partial frame) costs
 * linear or quadratic time in the line's length.
 */
export const longLine: Scenario = {
  name: 'long-line',
  describe: (c) => `${c.longLines} round trips of one ${formatCount(c.longLineBytes)}-byte line through cat (limits raised): median ms`,
  metrics: [
    { key: 'medianMs', label: 'long line round trip, median', unit: 'ms', better: 'lower' },
    { key: 'mibPerSec', label: 'long line, MiB/s each way', unit: 'MiB/s', better: 'higher' }
  ],
  route: () => ({ path: '/cat', argv: ['/usr/bin/cat'], wsexec: { maxLineBytes: LIMIT_BYTES, maxMessageBytes: LIMIT_BYTES } }),
  timeoutMs: (c) => 30_000 + c.longLines * 90_000,
  async run (ctx) {
    const { longLines, longLineBytes } = ctx.counts
    const line = Buffer.alloc(longLineBytes, 'x')
    // Encoded before the clock starts.
    const frame = encodeMaskedFrame(Opcode.text, line)
    let onEcho: ((length: number) => void) | undefined
    const client = await connectClient(ctx, (payload) => { onEcho?.(payload.length) }, true)
    const samplesMs: number[] = []
    const notes: string[] = []
    try {
      for (let i = 0; i < longLines && !ctx.signal.aborted; i++) {
        const echoed = new Promise<number>((resolve) => { onEcho = resolve })
        const startMs = performance.now()
        await client.sendEncoded([frame], ctx.signal)
        const length = await beforeDeadline(unlessClosed(echoed, client), ctx.signal, 'the echo of the long line')
        samplesMs.push(performance.now() - startMs)
        if (length !== longLineBytes) notes.push(`echo ${i} was ${length} bytes, expected ${longLineBytes}`)
      }
    } finally {
      client.destroy()
    }
    if (samplesMs.length < longLines) notes.push(`only ${samplesMs.length} of ${longLines} round trips`)
    const medianMs = percentile(samplesMs, 50)
    return { values: { medianMs, mibPerSec: longLineBytes / 1024 / 1024 / (medianMs / 1000) }, notes }
  }
}
