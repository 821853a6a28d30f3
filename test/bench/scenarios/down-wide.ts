import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { readFaults } from '../proc.js'
import { receiveAll, type Received } from './receive-all.js'
import { formatCount } from './helpers.js'
import type { Counts, RouteEnv, Scenario } from './types.js'

/** One variant of the bulk-output scenario: line length and the producer's write size. */
interface WideVariant {
  name: string
  /** Bytes per line (without '\n'); undefined: the run's `wideLineBytes`. */
  lineBytes?: number
  /** Bytes per write() of the producer: 4096 as C stdio writes to a pipe, or 64 KiB. */
  chunkBytes: number
}

function lineBytesOf (variant: WideVariant, c: Counts): number {
  return variant.lineBytes ?? c.wideLineBytes
}

/** As many lines as make the same volume as `wideLines` lines of `wideLineBytes`. */
function linesOf (variant: WideVariant, c: Counts): number {
  return Math.round(c.wideLines * c.wideLineBytes / lineBytesOf(variant, c))
}

/**
 * The producer's command: `fixtures/wide-lines.c` compiled with `cc -O2` into the run's folder
 * (C stdio, as the programs this stands for write), or, without a C compiler, the Node fixture
 * `wide-lines.mjs` (the same bytes in the same writes, but it starts and writes more slowly).
 */
function producer (env: RouteEnv): string[] {
  const binary = join(env.workDir, 'wide-lines')
  try {
    execFileSync('cc', ['-O2', '-o', binary, join(env.fixturesDir, 'wide-lines.c')], { stdio: 'pipe' })
    return [binary]
  } catch {
    return [process.execPath, join(env.fixturesDir, 'wide-lines.mjs')]
  }
}

/**
 * Lines printed by a fixture in `chunkBytes` writes, twice on the same server: the first session of
 * the fresh server (cold: a JIT compiler, node's, not Go's, is still at work), then the measured
 * one: bulk throughput from server to client, and the server's page faults (minor + major,
 * /proc/PID/stat) per 100 MB of payload.
 */
function downWideScenario (variant: WideVariant): Scenario {
  return {
    name: variant.name,
    describe: (c) => `${formatCount(linesOf(variant, c))} lines of ${formatCount(lineBytesOf(variant, c))} bytes printed to the client in ${formatCount(variant.chunkBytes)}-byte writes, a first session on a fresh server (cold MB/s) then a second one: payload MB/s, messages/s, server page faults per 100 MB`,
    metrics: [
      { key: 'megabytesPerSec', label: 'payload MB/s', unit: 'MB/s', better: 'higher' },
      { key: 'messagesPerSec', label: 'messages/s', unit: 'msg/s', better: 'higher' },
      { key: 'faultsPer100MB', label: 'server page faults per 100 MB', unit: 'faults', better: 'lower' },
      { key: 'coldMegabytesPerSec', label: 'payload MB/s, first session of a fresh server', unit: 'MB/s', better: 'higher' }
    ],
    route: (env) => ({
      path: '/wide',
      argv: [...producer(env), String(linesOf(variant, env.counts)), String(lineBytesOf(variant, env.counts)), String(variant.chunkBytes)]
    }),
    timeoutMs: () => 120_000,
    async run (ctx) {
      const lines = linesOf(variant, ctx.counts)
      const lineBytes = lineBytesOf(variant, ctx.counts)
      const notes: string[] = []
      const check = (received: Received, which: string): void => {
        if (received.messages === lines && received.payloadBytes === lines * lineBytes) return
        notes.push(`${which} session: received ${received.messages} of ${lines} messages, ${received.payloadBytes} bytes (${received.ending})`)
      }
      const cold = await receiveAll(ctx)
      check(cold, 'first')
      const faultsBefore = readFaults(ctx.server.pid)
      const received = await receiveAll(ctx)
      const faults = readFaults(ctx.server.pid) - faultsBefore
      check(received, 'second')
      if (ctx.route.argv[0] === process.execPath) notes.push('no C compiler (cc): the producer was the Node fixture wide-lines.mjs')
      const seconds = received.elapsedMs / 1000
      return {
        values: {
          megabytesPerSec: received.payloadBytes / 1e6 / seconds,
          messagesPerSec: received.messages / seconds,
          faultsPer100MB: faults / (received.payloadBytes / 1e8),
          coldMegabytesPerSec: cold.payloadBytes / 1e6 / (cold.elapsedMs / 1000)
        },
        notes
      }
    }
  }
}

/** 1 KiB lines in 4 KiB writes, as awk or python print them to a pipe. */
export const downWide = downWideScenario({ name: 'down-wide', chunkBytes: 4096 })
/** 1 KiB lines in 64 KiB writes (the benchmark's producer before 4 KiB writes became the default). */
export const downWide64k = downWideScenario({ name: 'down-wide-64k', chunkBytes: 64 * 1024 })
/** 100-byte lines in 4 KiB writes: many short messages per chunk. */
export const downWide100 = downWideScenario({ name: 'down-wide-100', lineBytes: 100, chunkBytes: 4096 })
