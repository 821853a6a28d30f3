import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { readRssKiB } from '../proc.js'
import { openSlowReader } from '../slow-reader.js'
import { CONNECT_TIMEOUT_MS, formatCount } from './helpers.js'
import type { Scenario } from './types.js'

const MIB = 1024 * 1024
const COUNT_FILE = 'yes-count.json'

/** Bytes the yes fixture reports having written; NaN if it has not written its file yet. */
async function readWrittenBytes (file: string): Promise<number> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as { bytes?: unknown }
    return typeof record.bytes === 'number' ? record.bytes : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Each 'y' line reaches the client as a 3-byte frame (2-byte header, 1-byte payload) for 2 bytes of stdout. */
function stdoutBytesOfFrames (wireBytes: number): number {
  return Math.floor(wireBytes / 3) * 2
}

/** Samples of the server's memory that must agree (within {@link SETTLED_KIB}) before the flood starts. */
const SETTLED_SAMPLES = 3
const SETTLED_KIB = 256
const SETTLE_EVERY_MS = 200
const SETTLE_MAX_MS = 10_000

/** The server's memory once it stops changing after the start (or after {@link SETTLE_MAX_MS}). */
async function settledRssKiB (pid: number, signal: AbortSignal): Promise<number> {
  const endMs = performance.now() + SETTLE_MAX_MS
  let last = readRssKiB(pid)
  let agreeing = 1
  while (agreeing < SETTLED_SAMPLES && performance.now() < endMs && !signal.aborted) {
    await sleep(SETTLE_EVERY_MS)
    const now = readRssKiB(pid)
    agreeing = Math.abs(now - last) <= SETTLED_KIB ? agreeing + 1 : 1
    last = now
  }
  return last
}

/** A `yes` route read by a client taking 4 KiB every 100 ms: does backpressure bound the server? */
export const flood: Scenario = {
  name: 'flood',
  describe: (c) => `yes read by a slow client (${formatCount(c.floodReadBytes)} bytes every ${formatCount(c.floodReadEveryMs)} ms for ${formatCount(c.floodSeconds)} s): server RSS growth, bytes yes wrote, bytes in flight`,
  metrics: [
    { key: 'rssGrowthMiB', label: 'server RSS growth, peak', unit: 'MiB', better: 'lower' },
    { key: 'rssEndGrowthMiB', label: 'server RSS growth, at the end', unit: 'MiB', better: 'lower' },
    { key: 'writtenMiB', label: 'yes wrote', unit: 'MiB', better: 'lower' },
    { key: 'inFlightMiB', label: 'written, not yet read', unit: 'MiB', better: 'lower' }
  ],
  route: ({ fixturesDir, workDir }) => ({
    path: '/yes',
    argv: [process.execPath, join(fixturesDir, 'yes-count.mjs'), join(workDir, COUNT_FILE)]
  }),
  timeoutMs: (counts) => 30_000 + counts.floodSeconds * 1000,
  async run (ctx) {
    const { floodSeconds, floodReadBytes, floodReadEveryMs } = ctx.counts
    const pid = ctx.server.pid
    const countFile = join(ctx.workDir, COUNT_FILE)
    // No warm-up session: even one dropped right after the upgrade can leave the server holding yes output,
    // which would raise the baseline. What a server does once it listens (wsexec forks its spawners and
    // loads its session code) is not growth from the flood: the baseline is taken once its memory settles.
    const baseRssKiB = await settledRssKiB(pid, ctx.signal)
    let maxRssKiB = baseRssKiB
    const reader = await openSlowReader({ host: ctx.server.host, port: ctx.server.port, path: ctx.route.path, connectTimeoutMs: CONNECT_TIMEOUT_MS })
    const notes: string[] = []
    let written: number
    let endRssKiB: number
    try {
      const reads = Math.round(floodSeconds * 1000 / floodReadEveryMs)
      for (let i = 0; i < reads && !ctx.signal.aborted && !reader.ended; i++) {
        await sleep(floodReadEveryMs)
        reader.read(floodReadBytes)
        maxRssKiB = Math.max(maxRssKiB, readRssKiB(pid))
      }
      if (reader.ended) notes.push('the server ended the connection early')
      endRssKiB = readRssKiB(pid)
      written = await readWrittenBytes(countFile)
    } finally {
      reader.destroy()
    }
    const readBytes = stdoutBytesOfFrames(reader.receivedBytes)
    const expectedBytes = Math.round(floodSeconds * 1000 / floodReadEveryMs) * floodReadBytes
    // A tick can find the stream's buffer not yet refilled from the kernel: only a large shortfall is worth a note.
    if (reader.receivedBytes < expectedBytes * 0.9) notes.push(`client read only ${reader.receivedBytes} of ${expectedBytes} bytes of frames`)
    return {
      values: {
        rssGrowthMiB: (maxRssKiB - baseRssKiB) / 1024,
        rssEndGrowthMiB: (endRssKiB - baseRssKiB) / 1024,
        writtenMiB: written / MIB,
        inFlightMiB: (written - readBytes) / MIB
      },
      notes
    }
  }
}
