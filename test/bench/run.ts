import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBenchArgs, USAGE, type BenchOptions } from './cli-args.js'
import { renderMarkdown, renderTables, replaceBenchBlock, formatNumber } from './markdown.js'
import { measureOnce, type MeasureEnv, type RunRecord } from './measure.js'
import { FULL_COUNTS, QUICK_COUNTS } from './scenarios/counts.js'
import { SCENARIOS } from './scenarios/index.js'
import { killStartedServers, wsexecBin, type ServerKind, type ServerPaths } from './servers.js'
import { summarize, type BenchReport } from './summary.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const REPO_DIR = resolve(BENCH_DIR, '..', '..')
const WEBSOCKETD_PATH = '/usr/bin/websocketd'

function describeRun (run: RunRecord): string {
  const values = Object.entries(run.values).map(([key, value]) => `${key}=${formatNumber(value)}`).join(' ')
  const status = run.error === undefined ? values : `ERROR ${run.error}`
  return `  ${run.scenario} round ${run.round} ${run.server.padEnd(10)} ${status} | client CPU ${formatNumber(run.clientCpuPct)} %, ` +
    `server CPU ${formatNumber(run.serverCpuPct)} %, load ${run.load1Before.toFixed(2)}`
}

/** Runs every selected scenario for each round, candidate then baseline, and returns all records. */
async function runAll (options: BenchOptions, baseline: ServerKind, env: MeasureEnv): Promise<RunRecord[]> {
  const runs: RunRecord[] = []
  for (const scenario of SCENARIOS) {
    if (options.only !== undefined && !options.only.includes(scenario.name)) continue
    console.log(`${scenario.name}: ${scenario.describe(env.counts)}`)
    for (let round = 1; round <= options.rounds; round++) {
      for (const [side, server] of [['candidate', options.candidate], ['baseline', baseline]] as const) {
        const run = await measureOnce(scenario, server, side, round, env)
        console.log(describeRun(run))
        runs.push(run)
      }
    }
  }
  return runs
}

/** Writes results/latest.json and results.md, and the README block when asked. Returns the paths written. */
async function writeOutputs (report: BenchReport, readme: string | undefined): Promise<string[]> {
  const resultsDir = join(BENCH_DIR, 'results')
  await mkdir(resultsDir, { recursive: true })
  const jsonPath = join(resultsDir, 'latest.json')
  const markdownPath = join(BENCH_DIR, 'results.md')
  await writeFile(jsonPath, JSON.stringify(report, null, 2) + '\n')
  await writeFile(markdownPath, renderMarkdown(report))
  const written = [jsonPath, markdownPath]
  if (readme !== undefined) {
    const text = await readFile(readme, 'utf8')
    const updated = replaceBenchBlock(text, renderTables(report))
    if (updated === undefined) {
      console.warn(`${readme} has no <!-- bench:start --> ... <!-- bench:end --> block: left unchanged`)
    } else {
      await writeFile(readme, updated)
      written.push(readme)
    }
  }
  return written
}

/** Runs the benchmark for `argv` (without node and the script); returns the process exit code. */
export async function main (argv: readonly string[]): Promise<number> {
  let options: BenchOptions | 'help'
  try {
    options = parseBenchArgs(argv, SCENARIOS.map((s) => s.name))
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (options === 'help') {
    console.log(USAGE)
    return 0
  }
  const baseline: ServerKind = 'websocketd'
  const paths: ServerPaths = { repoDir: REPO_DIR, websocketdPath: WEBSOCKETD_PATH }
  const env: MeasureEnv = { counts: options.quick ? QUICK_COUNTS : FULL_COUNTS, paths, fixturesDir: join(BENCH_DIR, 'fixtures') }
  if (options.candidate === 'wsexec' && !existsSync(wsexecBin(paths))) {
    console.error(`${wsexecBin(paths)} does not exist: run npm run build first`)
    return 1
  }
  if (!existsSync(WEBSOCKETD_PATH)) {
    console.error(`${WEBSOCKETD_PATH} does not exist: install websocketd (Debian package websocketd)`)
    return 1
  }
  const startedAt = new Date().toISOString()
  const loadBefore = loadavg()
  console.log(`load average before: ${loadBefore.map((v) => v.toFixed(2)).join(' ')}`)
  // A Ctrl-C must not leave servers behind: kill the ones this process started, by PID.
  const onSignal = (): void => {
    killStartedServers()
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let runs: RunRecord[]
  try {
    runs = await runAll(options, baseline, env)
  } finally {
    killStartedServers()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    rounds: options.rounds,
    quick: options.quick,
    candidate: options.candidate,
    baseline,
    loadavg: { before: loadBefore, after: loadavg() },
    scenarios: summarize(SCENARIOS, runs, env.counts),
    runs
  }
  console.log(`\n${renderTables(report)}\n`)
  for (const path of await writeOutputs(report, options.readme)) console.log(`wrote ${path}`)
  return runs.some((run) => run.error !== undefined) ? 1 : 0
}

process.exitCode = await main(process.argv.slice(2))
