import { request } from 'node:http'
import type { LeanClient } from '../lean-client.js'
import { percentile } from '../stats.js'
import { beforeDeadline, connectClient, unlessClosed, warmUp } from './helpers.js'
import type { Scenario, ScenarioContext } from './types.js'

/** How long the storm lasts, in ms. */
const STORM_MS = 10_000
/** Sessions opened and closed at once during the storm. */
const STORM_IN_FLIGHT = 16
/** How long one storm session may take to echo and end, in ms. */
const SESSION_TIMEOUT_MS = 5000
/** Pause between two probes of the long-lived session and of the HTTP endpoint, in ms. */
const PROBE_EVERY_MS = 20

/** One storm session: connect to `cat`, one echo, close. Returns false when it failed. */
async function stormSession (ctx: ScenarioContext): Promise<boolean> {
  let echoed!: () => void
  const echo = new Promise<void>((resolve) => { echoed = resolve })
  let client: LeanClient | undefined
  try {
    client = await connectClient(ctx, () => echoed())
    client.sendText(Buffer.from('storm'))
    await beforeDeadline(unlessClosed(echo, client), AbortSignal.any([ctx.signal, AbortSignal.timeout(SESSION_TIMEOUT_MS)]), 'storm echo')
    client.close()
    await beforeDeadline(client.closed, AbortSignal.any([ctx.signal, AbortSignal.timeout(SESSION_TIMEOUT_MS)]), 'storm close')
    return true
  } catch {
    return false
  } finally {
    client?.destroy()
  }
}

/** Echo round trips of one long-lived session until `until` aborts, in ms. */
async function probeEcho (ctx: ScenarioContext, until: AbortSignal): Promise<number[]> {
  const rtts: number[] = []
  let answered: (() => void) | undefined
  const client = await connectClient(ctx, () => answered?.())
  try {
    while (!until.aborted && !ctx.signal.aborted) {
      const sentAt = performance.now()
      const echo = new Promise<void>((resolve) => { answered = resolve })
      client.sendText(Buffer.from('probe'))
      await beforeDeadline(unlessClosed(echo, client), ctx.signal, 'probe echo')
      rtts.push(performance.now() - sentAt)
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS))
    }
  } finally {
    client.destroy()
  }
  return rtts
}

/** One HTTP GET (wsexec: `/healthz`; websocketd answers the same path with its own status), in ms. */
async function httpLatency (ctx: ScenarioContext): Promise<number> {
  const startedAt = performance.now()
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: ctx.server.host, port: ctx.server.port, path: '/healthz', signal: ctx.signal }, (res) => {
      res.resume()
      res.once('end', resolve)
    })
    req.once('error', reject)
    req.end()
  })
  return performance.now() - startedAt
}

async function probeHttp (ctx: ScenarioContext, until: AbortSignal): Promise<number[]> {
  const latencies: number[] = []
  while (!until.aborted && !ctx.signal.aborted) {
    latencies.push(await httpLatency(ctx))
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS))
  }
  return latencies
}

/**
 * Spawn storm: 16 connections at a time open a `cat` session, echo once and close, for 10 s, while
 * one long-lived session measures echo round trips and a client measures HTTP `/healthz` latency.
 * The idle figures (the same probes for 2 s before the storm) say what the storm costs.
 */
export const spawnStorm: Scenario = {
  name: 'storm',
  describe: () => `spawn storm: ${STORM_IN_FLIGHT} sessions at a time open, echo and close for ${STORM_MS / 1000} s; a long-lived session's echo rtt and /healthz latency meanwhile (Node ${process.versions.node}, libuv ${process.versions.uv})`,
  metrics: [
    { key: 'sessionsPerSecond', label: 'storm sessions/s', unit: 'sessions/s', better: 'higher' },
    { key: 'failures', label: 'failed storm sessions', unit: 'count', better: 'lower' },
    { key: 'idleEchoP99Ms', label: 'echo p99 idle', unit: 'ms', better: 'lower' },
    { key: 'echoP50Ms', label: 'echo p50 in storm', unit: 'ms', better: 'lower' },
    { key: 'echoP99Ms', label: 'echo p99 in storm', unit: 'ms', better: 'lower' },
    { key: 'healthP99Ms', label: '/healthz p99 in storm', unit: 'ms', better: 'lower' }
  ],
  route: () => ({ path: '/cat', argv: ['/usr/bin/cat'] }),
  timeoutMs: () => 60_000 + STORM_MS,
  async run (ctx) {
    // One session first: wsexec loads its session code and forks its spawners then, not in the idle figures.
    await warmUp(ctx, 0)
    const idle = AbortSignal.timeout(2000)
    const [idleRtts] = await Promise.all([probeEcho(ctx, idle), probeHttp(ctx, idle)])
    const storm = AbortSignal.timeout(STORM_MS)
    let sessions = 0
    let failures = 0
    const startedAt = performance.now()
    const worker = async (): Promise<void> => {
      while (!storm.aborted && !ctx.signal.aborted) {
        if (await stormSession(ctx)) sessions++
        else failures++
      }
    }
    const [rtts, health] = await Promise.all([
      probeEcho(ctx, storm),
      probeHttp(ctx, storm),
      ...Array.from({ length: STORM_IN_FLIGHT }, worker)
    ])
    const seconds = (performance.now() - startedAt) / 1000
    return {
      values: {
        sessionsPerSecond: sessions / seconds,
        failures,
        idleEchoP99Ms: percentile(idleRtts, 99),
        echoP50Ms: percentile(rtts as number[], 50),
        echoP99Ms: percentile(rtts as number[], 99),
        healthP99Ms: percentile(health as number[], 99)
      },
      notes: [`Node ${process.versions.node}, libuv ${process.versions.uv}`]
    }
  }
}
