import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import type { Config } from '../config/load.js'
import type { LoadedConfig } from '../config/model.js'
import { ConfigError } from '../errors.js'
import { VERSION } from '../version.js'
import { parseArgs, USAGE, UsageError, type Options } from './args.js'
import { loadFromOptions } from './configure.js'
import { ExitCode, type CliIO } from './io.js'
import { serve, where } from './serve.js'

export { ExitCode, type CliIO } from './io.js'

const HELP_HINT = 'Try \'wsexec --help\' for more information.\n'

/** The short answer to `wsexec` run with nothing to serve. */
function nothingToServe (options: Options, cwd: string): string {
  return `wsexec: nothing to serve: there is no ${options.config} in ${cwd}.
  wsexec -c FILE             serve the routes in a YAML file
  wsexec -- COMMAND [ARGS]   serve one program (websocketd style: wsexec --port=8080 ./script.sh)
  wsexec --dir=FOLDER        serve every executable file in a folder
${HELP_HINT}`
}

function summary (config: Config): string {
  const lines = config.routes.map((r) => {
    const params = Object.entries(r.params).map(([k, p]) => `${k}: ${p}`).join(', ')
    // A terminal merges stderr into what it shows: its stderr setting means nothing there.
    const streams = r.tty ? `tty, ${r.mode}` : `${r.mode}, stderr ${r.stderr}`
    return `  ${r.path}  ${r.command.join(' ')}  [${streams}${params === '' ? '' : `; ${params}`}]`
  })
  return `${config.source}: valid, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, listen ${where(config)}\n${lines.join('\n')}\n`
}

/**
 * Runs the `wsexec` command: parses `argv`, loads the configuration, and serves until SIGINT or
 * SIGTERM; `wsexec connect` runs the client. Resolves to the exit code; never throws.
 */
export async function main (argv: readonly string[], io: CliIO): Promise<number> {
  try {
    if (argv[0] === 'connect') {
      const { connectMain } = await import('./connect.js')
      return await connectMain(argv.slice(1), io)
    }
    return await serverMain(argv, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`wsexec: ${err.message}\n${HELP_HINT}`)
      return ExitCode.USAGE
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`wsexec: ${err.message}\n`)
      return ExitCode.USAGE
    }
    // A bug: say so, with the stack, and never as a configuration problem.
    io.stderr.write(`wsexec: unexpected error (a bug in wsexec; please report it):\n${inspect(err)}\n`)
    return ExitCode.FAILURE
  }
}

async function serverMain (argv: readonly string[], io: CliIO): Promise<number> {
  const options = parseArgs(argv)
  if (options.help) {
    io.stdout.write(USAGE)
    return ExitCode.OK
  }
  if (options.version) {
    io.stdout.write(`wsexec ${VERSION}\n`)
    return ExitCode.OK
  }
  if (options.license) {
    io.stdout.write(readFileSync(new URL('../../LICENSE', import.meta.url), 'utf8'))
    return ExitCode.OK
  }
  if (options.printConfig) {
    // yaml comes through websocketd.js, an ES module: the bundle gives a CommonJS package's named exports to static imports only.
    const { buildConfigInput, routesYaml } = await import('./websocketd.js')
    const built = buildConfigInput(options, io.cwd)
    for (const note of built.notes) io.stderr.write(`wsexec: ${note}\n`)
    const extra = options.hosts.slice(1).map((h) => `# --address ${h}: a routes file listens on one address; give --host ${h} (or run one more server) for it\n`).join('')
    io.stdout.write(`# wsexec routes file made by: wsexec ${argv.join(' ')}\n${extra}${routesYaml(built.input)}`)
    return ExitCode.OK
  }
  const notes: string[] = []
  let config: LoadedConfig
  try {
    config = await loadFromOptions(options, io, notes)
  } catch (err) {
    // Only the default file can be missing this way: a command or --dir makes no file to read.
    const missing = err instanceof ConfigError && !options.configGiven && err.problems.some((p) => p.message === 'cannot read the file (ENOENT)')
    if (missing) {
      io.stderr.write(nothingToServe(options, io.cwd))
      return ExitCode.USAGE
    }
    throw err
  }
  for (const note of notes) io.stderr.write(`wsexec: ${note}\n`)
  if (options.check) {
    io.stdout.write(summary(config))
    return ExitCode.OK
  }
  if (options.asyncapi) {
    const { asyncapiDocument } = await import('../asyncapi.js')
    io.stdout.write(`${JSON.stringify(asyncapiDocument(config), null, 2)}\n`)
    return ExitCode.OK
  }
  const { createLogger } = await import('../logger.js')
  const logger = createLogger(options.logLevel, io.stdout, io.stdout.isTTY === true)
  return serve(config, options, logger, io)
}
