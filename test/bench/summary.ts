import type { RunRecord } from './measure.js'
import type { Counts, MetricSpec, Scenario } from './scenarios/types.js'
import type { ServerKind } from './servers.js'
import { median, ratio } from './stats.js'

/** Medians of one metric on both sides, and candidate / baseline. */
export interface MetricSummary extends MetricSpec {
  candidate: { values: number[], median: number }
  baseline: { values: number[], median: number }
  ratio: number
}

/** Medians of one scenario, with the client and server CPU and load that came with them. */
export interface ScenarioSummary {
  name: string
  description: string
  metrics: MetricSummary[]
  clientCpuPct: { candidate: number, baseline: number }
  serverCpuPct: { candidate: number, baseline: number }
  load1: { first: number, last: number }
  errors: string[]
  notes: string[]
}

/** The whole run, as written to results/latest.json. */
export interface BenchReport {
  startedAt: string
  finishedAt: string
  node: string
  cpus: number
  rounds: number
  quick: boolean
  candidate: ServerKind
  baseline: ServerKind
  /** os.loadavg() (1, 5, 15 min) before the first and after the last run. */
  loadavg: { before: number[], after: number[] }
  scenarios: ScenarioSummary[]
  runs: RunRecord[]
}

/** Medians per scenario and metric over the rounds of each side; errors and notes tagged with side and round. */
export function summarize (scenarios: readonly Scenario[], runs: readonly RunRecord[], counts: Counts): ScenarioSummary[] {
  return scenarios.flatMap((scenario) => {
    const own = runs.filter((run) => run.scenario === scenario.name)
    if (own.length === 0) return []
    const sideRuns = (side: RunRecord['side']): RunRecord[] => own.filter((run) => run.side === side)
    const column = (side: RunRecord['side'], pick: (run: RunRecord) => number): { values: number[], median: number } => {
      const values = sideRuns(side).map(pick)
      return { values, median: median(values) }
    }
    const metrics = scenario.metrics.map((spec): MetricSummary => {
      const candidate = column('candidate', (run) => run.values[spec.key] ?? Number.NaN)
      const baseline = column('baseline', (run) => run.values[spec.key] ?? Number.NaN)
      return { ...spec, candidate, baseline, ratio: ratio(candidate.median, baseline.median) }
    })
    const tag = (run: RunRecord, text: string): string => `${run.server} (${run.side}) round ${run.round}: ${text}`
    return [{
      name: scenario.name,
      description: scenario.describe(counts),
      metrics,
      clientCpuPct: { candidate: column('candidate', (r) => r.clientCpuPct).median, baseline: column('baseline', (r) => r.clientCpuPct).median },
      serverCpuPct: { candidate: column('candidate', (r) => r.serverCpuPct).median, baseline: column('baseline', (r) => r.serverCpuPct).median },
      load1: { first: own[0]?.load1Before ?? Number.NaN, last: own.at(-1)?.load1Before ?? Number.NaN },
      errors: own.flatMap((run) => run.error === undefined ? [] : [tag(run, run.error)]),
      notes: own.flatMap((run) => run.notes.map((note) => tag(run, note)))
    }]
  })
}
