import { setTimeout as sleep } from 'node:timers/promises'
import type { LeanClient } from '../lean-client.js'
import { readRssKiB } from '../proc.js'
import { percentile } from '../stats.js'
import { connectClient, formatCount, warmUp } from './helpers.js'
import type { Scenario, ScenarioContext } from './types.js'

/** Extra time after the last send for the last echoes to come back, in ms. */
const ECHO_GRACE_MS = 2000
const RSS_SAMPLE_EVERY_MS = 500

interface Session {
  client: LeanClient | undefined
  /** performance.now() of sends still waiting for their echo; cat answers in order. */
  waiting: number[]
  echoes: number
}

/** Opens every session with at most `inFlight` upgrades at once; returns how many failed to open. */
async function openSessions (ctx: ScenarioContext, sessions: Session[], latenciesMs: number[], inFlight: number): Promise<number> {
  let next = 0
  let failed = 0
  const worker = async (): Promise<void> => {
    while (next < sessions.length && !ctx.signal.aborted) {
      const session = sessions[next++] as Session
      try {
        session.client = await connectClient(ctx, () => {
          const sentAtMs = session.waiting.shift()
          if (sentAtMs !== undefined) latenciesMs.push(performance.now() - sentAtMs)
          session.echoes++
        })
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return failed
}

/** Many idle-ish `cat` sessions at once: failures, echo latency, server memory per session. */
export const conc: Scenario = {
  name: 'conc',
  describe: (c) => `${formatCount(c.concSessions)} concurrent cat sessions, one echo per second each for ${formatCount(c.concSeconds)} s: failures, echo p99, server RSS per session`,
  metrics: [
    { key: 'failures', label: 'failed sessions', unit: 'count', better: 'lower' },
    { key: 'echoP50Ms', label: 'echo p50', unit: 'ms', better: 'lower' },
    { key: 'echoP99Ms', label: 'echo p99', unit: 'ms', better: 'lower' },
    { key: 'rssPerSessionKiB', label: 'server RSS per session', unit: 'KiB', better: 'lower' }
  ],
  route: () => ({ path: '/cat', argv: ['/usr/bin/cat'] }),
  timeoutMs: (counts) => 60_000 + counts.concSeconds * 1000,
  async run (ctx) {
    const { concSessions, concConnectInFlight, concSeconds } = ctx.counts
    const pid = ctx.server.pid
    const warmedUp = await warmUp(ctx, 50)
    const baseRssKiB = readRssKiB(pid)
    const sessions: Session[] = Array.from({ length: concSessions }, () => ({ client: undefined, waiting: [], echoes: 0 }))
    const latenciesMs: number[] = []
    const timers: NodeJS.Timeout[] = []
    let maxRssKiB = baseRssKiB
    const sampleRss = (): void => { maxRssKiB = Math.max(maxRssKiB, readRssKiB(pid)) }
    try {
      const connectFailures = await openSessions(ctx, sessions, latenciesMs, concConnectInFlight)
      sampleRss()
      // Sends are spread evenly over each second so the load is steady rather than in bursts.
      sessions.forEach((session, i) => {
        const offsetMs = Math.floor(i * 1000 / concSessions)
        for (let k = 0; k < concSeconds; k++) {
          timers.push(setTimeout(() => {
            const client = session.client
            if (client === undefined || client.isClosed) return
            session.waiting.push(performance.now())
            client.sendText(Buffer.from(`session ${i} echo ${k}`))
          }, offsetMs + k * 1000))
        }
      })
      const expected = (concSessions - connectFailures) * concSeconds
      const endMs = performance.now() + concSeconds * 1000 + ECHO_GRACE_MS
      while (performance.now() < endMs && !ctx.signal.aborted && latenciesMs.length < expected) {
        await sleep(RSS_SAMPLE_EVERY_MS)
        sampleRss()
      }
      const brokenSessions = sessions.filter((s) => s.client !== undefined && (s.client.isClosed || s.echoes < concSeconds)).length
      const failures = connectFailures + brokenSessions
      const notes = failures === 0
        ? []
        : [`${connectFailures} sessions failed to open, ${brokenSessions} lost echoes or ended early`]
      if (!warmedUp) notes.push('the warm-up session\'s child was still running after 3 s')
      return {
        values: {
          failures,
          echoP50Ms: percentile(latenciesMs, 50),
          echoP99Ms: percentile(latenciesMs, 99),
          rssPerSessionKiB: (maxRssKiB - baseRssKiB) / concSessions
        },
        notes
      }
    } finally {
      for (const timer of timers) clearTimeout(timer)
      for (const session of sessions) session.client?.close()
      const closing = sessions.flatMap((s) => s.client === undefined ? [] : [s.client.closed])
      await Promise.race([Promise.all(closing), sleep(2000)])
      for (const session of sessions) session.client?.destroy()
    }
  }
}
