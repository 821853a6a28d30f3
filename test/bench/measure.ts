import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { readCpuMs } from './proc.js'
import { beforeDeadline } from './scenarios/helpers.js'
import type { Counts, Scenario } from './scenarios/types.js'
import { startServer, type ServerKind, type ServerPaths } from './servers.js'

/** Client CPU (% of one core) above which a run is flagged: the client may be what limits the figures. */
const CLIENT_CPU_WARN_PCT = 80
/** Extra time a scenario gets past its own deadline to clean up before it is abandoned, in ms. */
const CLEANUP_GRACE_MS = 5000

/** One run of one scenario against one server, as stored in the results JSON. */
export interface RunRecord {
  scenario: string
  side: 'candidate' | 'baseline'
  server: ServerKind
  round: number
  /** Metric values keyed by MetricSpec.key; NaN (null in JSON) when the run failed. */
  values: Record<string, number>
  notes: string[]
  error: string | undefined
  wallMs: number
  /** Client (this process) CPU over the run, in % of one core. */
  clientCpuPct: number
  /** Server process CPU over the run (not its children), in % of one core. */
  serverCpuPct: number
  /** 1-minute load average when the run started. */
  load1Before: number
  /** Children the server still had 3 s after the run (sessions not cleaned up). */
  leftoverChildren: number
}

/** What {@link measureOnce} needs besides the scenario. */
export interface MeasureEnv {
  counts: Counts
  paths: ServerPaths
  fixturesDir: string
}

/**
 * Starts a fresh server for `scenario`, runs it once, and stops the server (in a finally).
 * Never throws for a failed run: the error goes into the record and the values are NaN.
 */
export async function measureOnce (scenario: Scenario, server: ServerKind, side: RunRecord['side'], round: number, env: MeasureEnv): Promise<RunRecord> {
  const workDir = await mkdtemp(join(tmpdir(), `bench-${scenario.name}-`))
  const routeEnv = { counts: env.counts, fixturesDir: env.fixturesDir, workDir }
  const route = scenario.route(routeEnv)
  const nanValues = Object.fromEntries(scenario.metrics.map((m) => [m.key, Number.NaN]))
  const record: RunRecord = {
    scenario: scenario.name,
    side,
    server,
    round,
    values: nanValues,
    notes: [],
    error: undefined,
    wallMs: Number.NaN,
    clientCpuPct: Number.NaN,
    serverCpuPct: Number.NaN,
    load1Before: loadavg()[0] ?? Number.NaN,
    leftoverChildren: 0
  }
  try {
    const running = await startServer(server, route, env.paths)
    try {
      const timeoutMs = scenario.timeoutMs(env.counts)
      const signal = AbortSignal.timeout(timeoutMs)
      const hardStop = AbortSignal.timeout(timeoutMs + CLEANUP_GRACE_MS)
      const cpuBefore = process.cpuUsage()
      const serverCpuBefore = readCpuMs(running.pid)
      const startMs = performance.now()
      const result = await beforeDeadline(scenario.run({ ...routeEnv, server: running, route, signal }), hardStop, scenario.name)
      const wallMs = performance.now() - startMs
      const cpu = process.cpuUsage(cpuBefore)
      record.wallMs = wallMs
      record.clientCpuPct = (cpu.user + cpu.system) / 1000 / wallMs * 100
      record.serverCpuPct = (readCpuMs(running.pid) - serverCpuBefore) / wallMs * 100
      record.values = { ...nanValues, ...result.values }
      record.notes = result.notes
      if (record.clientCpuPct > CLIENT_CPU_WARN_PCT) record.notes.push(`client CPU ${record.clientCpuPct.toFixed(0)} %: the client may be the bottleneck`)
    } finally {
      const stopped = await running.stop()
      record.leftoverChildren = stopped.leftoverChildren
      if (stopped.leftoverChildren > 0) record.notes.push(`${stopped.leftoverChildren} children still running 3 s after the run`)
      if (stopped.killed) record.notes.push('server needed SIGKILL')
    }
  } catch (err) {
    record.error = (err as Error).message
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }
  return record
}
