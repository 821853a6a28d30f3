import type { Route, RunningServer } from '../servers.js'

/** Sizes of every scenario; {@link FULL_COUNTS} for a real run, {@link QUICK_COUNTS} for a smoke run. */
export interface Counts {
  downLines: number
  wideLines: number
  wideLineBytes: number
  upLines: number
  rttTrips: number
  rttWarmupTrips: number
  spawnConnections: number
  spawnWarmupConnections: number
  spawnInFlight: number
  concSessions: number
  concConnectInFlight: number
  concSeconds: number
  floodSeconds: number
  floodReadBytes: number
  floodReadEveryMs: number
  longLines: number
  longLineBytes: number
  /** Server starts measured by the start-up scenario. */
  startupRuns: number
}

/** One figure a scenario reports, and which way is better. */
export interface MetricSpec {
  key: string
  label: string
  unit: string
  better: 'higher' | 'lower'
}

/** What a scenario needs to build its route: sizes, fixture folder, and a private temp folder. */
export interface RouteEnv {
  counts: Counts
  fixturesDir: string
  workDir: string
}

/** What a scenario run gets: the started server plus its route env and a deadline signal. */
export interface ScenarioContext extends RouteEnv {
  server: RunningServer
  route: Route
  /** Aborts when the run's time budget is spent; every wait and loop must honour it. */
  signal: AbortSignal
}

/** Figures of one run keyed by {@link MetricSpec.key} (NaN when not measured), plus remarks. */
export interface ScenarioResult {
  values: Record<string, number>
  notes: string[]
}

/** A bounded measurement that runs the same way against either server. */
export interface Scenario {
  name: string
  /** One line saying what is measured, with the sizes of this run. */
  describe: (counts: Counts) => string
  metrics: readonly MetricSpec[]
  /** The single route this scenario needs; both servers get exactly this program. */
  route: (env: RouteEnv) => Route
  /** Time budget of one run in ms, including connect and teardown. */
  timeoutMs: (counts: Counts) => number
  run: (ctx: ScenarioContext) => Promise<ScenarioResult>
}
