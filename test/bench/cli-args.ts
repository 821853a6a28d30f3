import { parseArgs } from 'node:util'
import type { ServerKind } from './servers.js'

/** Options of one bench run, from the command line. */
export interface BenchOptions {
  rounds: number
  /** Scenario names to run, in run order; every scenario when the flag is absent. */
  only: string[] | undefined
  quick: boolean
  /** A file whose block between <!-- bench:start --> and <!-- bench:end --> gets the table. */
  readme: string | undefined
  /** The server compared against websocketd; `websocketd` checks the harness against itself. */
  candidate: ServerKind
}

/** Usage text printed for --help and with argument errors. */
export const USAGE = `usage: tsx test/bench/run.ts [--rounds N] [--only down,rtt] [--quick] [--readme README.md] [--candidate wsexec|websocketd]
  --rounds N       rounds of A B alternation (default 3)
  --only LIST      comma-separated scenarios: startup, down, down-wide, down-wide-64k,
                   down-wide-100, up, rtt, spawn, storm, conc, flood, long-line
  --quick          small counts, for a smoke run
  --readme FILE    also replace the <!-- bench:start --> ... <!-- bench:end --> block of FILE
  --candidate K    server compared to websocketd (default wsexec; websocketd = harness self-check)`

/** Parses argv (without node and the script). Throws a TypeError quoting the bad value. */
export function parseBenchArgs (argv: readonly string[], scenarioNames: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string', default: '3' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      readme: { type: 'string' },
      candidate: { type: 'string', default: 'wsexec' },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help) return 'help'
  const rounds = Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
    throw new TypeError(`--rounds must be an integer from 1 to 50, got ${JSON.stringify(values.rounds)}`)
  }
  let only: string[] | undefined
  if (values.only !== undefined) {
    const names = values.only.split(',').map((name) => name.trim()).filter((name) => name !== '')
    const unknown = names.filter((name) => !scenarioNames.includes(name))
    if (unknown.length > 0 || names.length === 0) {
      throw new TypeError(`--only takes names from ${scenarioNames.join(', ')}, got ${JSON.stringify(values.only)}`)
    }
    only = scenarioNames.filter((name) => names.includes(name))
  }
  if (values.candidate !== 'wsexec' && values.candidate !== 'websocketd') {
    throw new TypeError(`--candidate must be wsexec or websocketd, got ${JSON.stringify(values.candidate)}`)
  }
  return { rounds, only, quick: values.quick, readme: values.readme, candidate: values.candidate }
}
