import type { LeanClient } from '../lean-client.js'
import { percentile } from '../stats.js'
import { beforeDeadline, connectClient, formatCount, unlessClosed } from './helpers.js'
import type { Scenario, ScenarioContext } from './types.js'

/** How long one session may take to print and to end, in ms. */
const SESSION_TIMEOUT_MS = 5000

interface SessionOutcome {
  /** From connect() to the first message, in ms; NaN when the session failed. */
  firstMessageMs: number
  failure: string | undefined
}

/** One connection to `echo hello`: connect, wait for the message, wait for the server to end the session. */
async function oneSession (ctx: ScenarioContext): Promise<SessionOutcome> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(SESSION_TIMEOUT_MS)])
  const startMs = performance.now()
  let resolveFirst!: (atMs: number) => void
  const first = new Promise<number>((resolve) => { resolveFirst = resolve })
  let client: LeanClient
  try {
    client = await connectClient(ctx, () => { resolveFirst(performance.now()) })
  } catch (err) {
    return { firstMessageMs: Number.NaN, failure: `connect: ${(err as Error).message}` }
  }
  try {
    const firstAtMs = await beforeDeadline(unlessClosed(first, client), signal, 'first message')
    // The program has exited: the server ends the session (close frame or TCP end).
    await beforeDeadline(client.closed, signal, 'session end')
    return { firstMessageMs: firstAtMs - startMs, failure: undefined }
  } catch (err) {
    return { firstMessageMs: Number.NaN, failure: (err as Error).message }
  } finally {
    client.destroy()
  }
}

/** Runs `total` sessions with at most `inFlight` at once; returns latencies, failures and wall time. */
async function runSessions (ctx: ScenarioContext, total: number, inFlight: number): Promise<{ latenciesMs: number[], failures: string[], elapsedMs: number }> {
  const latenciesMs: number[] = []
  const failures: string[] = []
  let next = 0
  const startMs = performance.now()
  const worker = async (): Promise<void> => {
    while (next < total && !ctx.signal.aborted) {
      next++
      const outcome = await oneSession(ctx)
      if (outcome.failure === undefined) latenciesMs.push(outcome.firstMessageMs)
      else failures.push(outcome.failure)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return { latenciesMs, failures, elapsedMs: performance.now() - startMs }
}

/** Connections to `echo hello`, one at a time and then 16 in flight: process start cost. */
export const spawnScenario: Scenario = {
  name: 'spawn',
  describe: (c) => `${formatCount(c.spawnConnections)} connections to echo hello, sequential then ${formatCount(c.spawnInFlight)} in flight: ms from connect to the message, sessions/s`,
  metrics: [
    { key: 'seqP50Ms', label: 'sequential p50', unit: 'ms', better: 'lower' },
    { key: 'seqP99Ms', label: 'sequential p99', unit: 'ms', better: 'lower' },
    { key: 'seqPerSec', label: 'sequential', unit: 'sessions/s', better: 'higher' },
    { key: 'parP50Ms', label: '16 in flight p50', unit: 'ms', better: 'lower' },
    { key: 'parP99Ms', label: '16 in flight p99', unit: 'ms', better: 'lower' },
    { key: 'parPerSec', label: '16 in flight', unit: 'sessions/s', better: 'higher' },
    { key: 'failures', label: 'failed sessions', unit: 'count', better: 'lower' }
  ],
  route: () => ({ path: '/hello', argv: ['/usr/bin/echo', 'hello'] }),
  timeoutMs: () => 120_000,
  async run (ctx) {
    const { spawnConnections, spawnWarmupConnections, spawnInFlight } = ctx.counts
    await runSessions(ctx, spawnWarmupConnections, 1)
    const seq = await runSessions(ctx, spawnConnections, 1)
    const par = await runSessions(ctx, spawnConnections, spawnInFlight)
    const failures = [...seq.failures, ...par.failures]
    const notes = failures.length === 0 ? [] : [`${failures.length} failed, first: ${failures[0] ?? ''}`]
    if (ctx.signal.aborted) notes.push('time budget ran out')
    return {
      values: {
        seqP50Ms: percentile(seq.latenciesMs, 50),
        seqP99Ms: percentile(seq.latenciesMs, 99),
        seqPerSec: seq.latenciesMs.length / (seq.elapsedMs / 1000),
        parP50Ms: percentile(par.latenciesMs, 50),
        parP99Ms: percentile(par.latenciesMs, 99),
        parPerSec: par.latenciesMs.length / (par.elapsedMs / 1000),
        failures: failures.length
      },
      notes
    }
  }
}
