import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { resolveExecutables } from './config/executables.js'
import { loadConfigFile, parseConfig, type Config } from './config/load.js'
import { ConfigError } from './errors.js'
import { loadSecurityFiles } from './security/credentials.js'
import { createLogger, LOG_LEVELS, type LogLevel } from './logger.js'
import { buildServer } from './server.js'
import { VERSION } from './version.js'

/** Exit codes of the `wsexec` command. */
export const ExitCode = Object.freeze({ OK: 0, FAILURE: 1, USAGE: 2 })

/** What the command reads and writes besides its arguments; tests pass their own. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean }
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /** Process-wide signals to handle (SIGINT, SIGTERM): the first drains, a second forces the exit. */
  readonly signals?: NodeJS.EventEmitter
  /** Aborting it stops the server like a signal. */
  readonly stop?: AbortSignal
  /** Called with the address once the server listens. */
  readonly onListening?: (url: string) => void
}

const USAGE = `Usage: wsexec [options]
       wsexec [options] -- COMMAND [ARGS...]

Serves programs that read stdin and write stdout as WebSocket endpoints.
Each connection starts its own process; the routes come from a YAML file,
or the command after -- is served at /.

Options:
  -c, --config FILE     routes file (default: config/routes.yaml)
      --host HOST       address to listen on (overrides the file; default 127.0.0.1)
  -p, --port PORT       port to listen on, 0 for any free port (overrides the file)
      --log-level LEVEL ${LOG_LEVELS.join(', ')} (default: info)
      --check           validate the configuration, print its routes, and exit
  -h, --help            show this help
  -v, --version         show the version

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`

class UsageError extends Error {}

interface Options {
  config: string
  host?: string
  port?: number
  logLevel: LogLevel
  check: boolean
  help: boolean
  version: boolean
  command: string[]
}

function parse (argv: readonly string[]): Options {
  const dashes = argv.indexOf('--')
  const own = dashes === -1 ? argv : argv.slice(0, dashes)
  const command = dashes === -1 ? [] : argv.slice(dashes + 1)
  let parsed
  try {
    parsed = parseArgs({
      args: [...own],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'log-level': { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  if (dashes !== -1 && command.length === 0) throw new UsageError('a command is expected after --')
  if (dashes !== -1 && v.config !== undefined) throw new UsageError('--config and a command after -- exclude each other')
  const logLevel = v['log-level'] ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(logLevel)}`)
  const options: Options = { config: v.config ?? 'config/routes.yaml', logLevel: logLevel as LogLevel, check: v.check ?? false, help: v.help ?? false, version: v.version ?? false, command }
  if (v.host !== undefined) options.host = v.host
  if (v.port !== undefined) {
    const port = Number(v.port)
    if (!/^[0-9]+$/.test(v.port) || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, not ${JSON.stringify(v.port)}`)
    options.port = port
  }
  return options
}

async function loadConfig (options: Options, io: CliIO): Promise<Config> {
  const overrides = (config: Config): Config => Object.freeze({
    ...config,
    listen: Object.freeze({ host: options.host ?? config.listen.host, port: options.port ?? config.listen.port })
  })
  const config = options.command.length > 0
    ? parseConfig(JSON.stringify({ routes: { '/': { command: options.command } } }), '<command line>', io.cwd)
    : await loadConfigFile(options.config, io.cwd)
  return overrides(await loadSecurityFiles(await resolveExecutables(config, io.env), io.env))
}

function summary (config: Config): string {
  const lines = config.routes.map((r) => {
    const params = Object.entries(r.params).map(([k, p]) => `${k}: ${p}`).join(', ')
    return `  ${r.path}  ${r.command.join(' ')}  [${r.mode}, stderr ${r.stderr}${params === '' ? '' : `; ${params}`}]`
  })
  return `${config.source}: valid, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, listen ${config.listen.host}:${config.listen.port}\n${lines.join('\n')}\n`
}

/**
 * Runs the `wsexec` command: parses `argv`, loads the configuration, and serves until SIGINT or
 * SIGTERM. Resolves to the exit code; never throws.
 */
export async function main (argv: readonly string[], io: CliIO): Promise<number> {
  let options: Options
  let config: Config
  try {
    options = parse(argv)
    if (options.help) {
      io.stdout.write(USAGE)
      return ExitCode.OK
    }
    if (options.version) {
      io.stdout.write(`wsexec ${VERSION}\n`)
      return ExitCode.OK
    }
    config = await loadConfig(options, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`wsexec: ${err.message}\n\n${USAGE}`)
    } else {
      io.stderr.write(`wsexec: ${(err as ConfigError).message}\n`)
    }
    return ExitCode.USAGE
  }
  if (options.check) {
    io.stdout.write(summary(config))
    return ExitCode.OK
  }
  const logger = createLogger(options.logLevel, io.stdout, io.stdout.isTTY === true)
  return serve(config, logger, io)
}

async function serve (config: Config, logger: ReturnType<typeof createLogger>, io: CliIO): Promise<number> {
  const app = await buildServer({ config, logger, env: io.env })
  try {
    const url = await app.listen({ host: config.listen.host, port: config.listen.port, listenTextResolver: (address) => `listening on ${address}` })
    io.onListening?.(url)
  } catch (err) {
    logger.error({ err }, 'cannot listen')
    await app.close()
    return ExitCode.FAILURE
  }
  const stopping = new AbortController()
  let signals = 0
  const onSignal = (signal: string): void => {
    signals++
    if (signals === 1) {
      logger.info({ signal, sessions: app.wsexec.sessions.size }, 'shutting down')
      stopping.abort()
    } else {
      logger.warn({ signal }, 'second signal: killing every session now')
      for (const s of app.wsexec.sessions) s.kill()
    }
  }
  io.signals?.on('SIGINT', onSignal)
  io.signals?.on('SIGTERM', onSignal)
  if (io.stop?.aborted === true) onSignal('stop')
  else io.stop?.addEventListener('abort', () => onSignal('stop'), { once: true })
  try {
    if (!stopping.signal.aborted) await once(stopping.signal, 'abort')
    await app.close()
    logger.info('stopped')
    return ExitCode.OK
  } finally {
    io.signals?.off('SIGINT', onSignal)
    io.signals?.off('SIGTERM', onSignal)
  }
}
