import type { Counts } from './types.js'

/** Sizes of the real run (about 5 minutes for both servers, 3 rounds). */
export const FULL_COUNTS: Readonly<Counts> = Object.freeze({
  downLines: 1_000_000,
  wideLines: 100_000,
  wideLineBytes: 1024,
  upLines: 200_000,
  rttTrips: 5000,
  // The first few thousand round trips of a fresh node server run while V8 still compiles the
  // hot path (see test/bench/README.md, Round trips): reported apart as the cold p99.
  rttWarmupTrips: 5000,
  spawnConnections: 300,
  spawnWarmupConnections: 10,
  spawnInFlight: 16,
  concSessions: 500,
  concConnectInFlight: 50,
  concSeconds: 10,
  floodSeconds: 15,
  floodReadBytes: 4096,
  floodReadEveryMs: 100,
  longLines: 3,
  longLineBytes: 16 * 1024 * 1024,
  startupRuns: 10
})

/** Sizes of a smoke run: every scenario, about a tenth of the work. */
export const QUICK_COUNTS: Readonly<Counts> = Object.freeze({
  ...FULL_COUNTS,
  downLines: 100_000,
  wideLines: 10_000,
  upLines: 20_000,
  rttTrips: 500,
  rttWarmupTrips: 500,
  spawnConnections: 50,
  spawnWarmupConnections: 5,
  concSessions: 50,
  concSeconds: 3,
  floodSeconds: 3,
  startupRuns: 3
})
