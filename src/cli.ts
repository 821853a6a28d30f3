import { once } from 'node:events'
import { asyncapiDocument } from './asyncapi.js'
import type { Writable } from 'node:stream'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { toMs } from './config/duration.js'
import { resolveExecutables } from './config/executables.js'
import { loadConfigFile, parseConfig, type Config } from './config/load.js'
import { ConfigError } from './errors.js'
import { loadSecurityFiles } from './security/credentials.js'
import { createLogger, LOG_LEVELS, type LogLevel } from './logger.js'
import { buildServer } from './server.js'
import { watchFile } from './reload.js'
import { listenSocket } from './unix-socket.js'
import { VERSION } from './version.js'

/** Exit codes of the `wsexec` command. */
export const ExitCode = Object.freeze({ OK: 0, FAILURE: 1, USAGE: 2 })

/** What the command reads and writes besides its arguments; tests pass their own. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean }
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /**
   * Process-wide signals to handle: SIGINT or SIGTERM drains (a second one kills every session
   * at once), SIGHUP reloads the configuration.
   */
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
      --socket PATH     listen on a Unix socket instead (overrides the file)
      --watch           reload the routes file when it changes (SIGHUP reloads too)
      --drain-timeout D how long sessions may finish on SIGTERM (overrides shutdown.drainTimeout; 30s)
      --log-level LEVEL ${LOG_LEVELS.join(', ')} (default: info)
      --check           validate the configuration, print its routes, and exit
      --console         serve the dev console page at / (overrides the file)
      --asyncapi        print the AsyncAPI document of the routes, and exit
  -h, --help            show this help
  -v, --version         show the version

Signals: SIGTERM/SIGINT drain (running sessions may finish for shutdown.drainTimeout),
a second one ends every session at once; SIGHUP reloads the routes file.
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`

class UsageError extends Error {}

interface Options {
  config: string
  host?: string
  port?: number
  socket?: string
  drainTimeoutMs?: number
  watch: boolean
  logLevel: LogLevel
  check: boolean
  console: boolean
  asyncapi: boolean
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
        socket: { type: 'string' },
        watch: { type: 'boolean' },
        'drain-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        check: { type: 'boolean' },
        console: { type: 'boolean' },
        asyncapi: { type: 'boolean' },
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
  if (dashes !== -1 && v.watch === true) throw new UsageError('--watch needs a routes file, not a command after --')
  const options: Options = { config: v.config ?? 'config/routes.yaml', watch: v.watch ?? false, logLevel: logLevel as LogLevel, check: v.check ?? false, console: v.console ?? false, asyncapi: v.asyncapi ?? false, help: v.help ?? false, version: v.version ?? false, command }
  if (v.host !== undefined) options.host = v.host
  if (v.socket !== undefined) options.socket = resolve(v.socket)
  if (v['drain-timeout'] !== undefined) {
    try {
      options.drainTimeoutMs = toMs(/^[0-9]+$/.test(v['drain-timeout']) ? Number(v['drain-timeout']) : v['drain-timeout'])
    } catch (err) {
      throw new UsageError(`--drain-timeout: ${(err as Error).message}`)
    }
  }
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
    listen: Object.freeze({
      host: options.host ?? config.listen.host,
      port: options.port ?? config.listen.port,
      socket: options.socket ?? (options.host !== undefined || options.port !== undefined ? undefined : config.listen.socket)
    }),
    shutdown: Object.freeze({ drainTimeoutMs: options.drainTimeoutMs ?? config.shutdown.drainTimeoutMs }),
    console: options.console || config.console
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
  return `${config.source}: valid, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, listen ${where(config)}\n${lines.join('\n')}\n`
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
  if (options.asyncapi) {
    io.stdout.write(`${JSON.stringify(asyncapiDocument(config), null, 2)}\n`)
    return ExitCode.OK
  }
  const logger = createLogger(options.logLevel, io.stdout, io.stdout.isTTY === true)
  return serve(config, options, logger, io)
}

function where (config: Config): string {
  return config.listen.socket ?? `${config.listen.host}:${config.listen.port}`
}

async function serve (config: Config, options: Options, logger: ReturnType<typeof createLogger>, io: CliIO): Promise<number> {
  const app = await buildServer({ config, logger, env: io.env })
  const { metricsServer } = app.wsexec
  try {
    const url = config.listen.socket === undefined
      ? await app.listen({ host: config.listen.host, port: config.listen.port, listenTextResolver: (address) => `listening on ${address}` })
      : await listenSocket(app, config.listen.socket)
    if (metricsServer !== undefined) {
      const metricsUrl = await metricsServer.listen({ host: config.metrics.host ?? config.listen.host, port: config.metrics.port as number, listenTextResolver: (address) => `metrics on ${address}${config.metrics.path}` })
      logger.debug({ url: metricsUrl }, 'metrics listening')
    }
    io.onListening?.(url)
  } catch (err) {
    logger.error({ err }, 'cannot listen')
    await app.close()
    await metricsServer?.close()
    return ExitCode.FAILURE
  }

  const reload = async (): Promise<void> => {
    try {
      const next = await loadConfig(options, io)
      if (where(next) !== where(config)) logger.warn({ listen: where(next) }, 'listen changed: restart to apply it')
      app.wsexec.reload(next)
    } catch (err) {
      logger.error({ problems: (err as ConfigError).message }, 'reload rejected: the running configuration stays')
    }
  }
  const stopping = new AbortController()
  let signals = 0
  const onSignal = (signal: string): void => {
    signals++
    if (signals === 1) {
      logger.info({ signal, sessions: app.wsexec.sessions.size, drainTimeoutMs: app.wsexec.config.shutdown.drainTimeoutMs }, 'draining')
      stopping.abort()
    } else {
      logger.warn({ signal }, 'second signal: killing every session now')
      app.wsexec.kill()
    }
  }
  const onHangup = (): void => { reload().catch(() => {}) }
  const watcher = options.watch ? watchFile(resolve(io.cwd, options.config), onHangup) : undefined
  io.signals?.on('SIGINT', onSignal)
  io.signals?.on('SIGTERM', onSignal)
  io.signals?.on('SIGHUP', onHangup)
  if (io.stop?.aborted === true) onSignal('stop')
  else io.stop?.addEventListener('abort', () => onSignal('stop'), { once: true })
  try {
    if (!stopping.signal.aborted) await once(stopping.signal, 'abort')
    watcher?.close()
    await app.wsexec.drain()
    await app.close()
    await metricsServer?.close()
    logger.info('stopped')
    return ExitCode.OK
  } finally {
    io.signals?.off('SIGINT', onSignal)
    io.signals?.off('SIGTERM', onSignal)
    io.signals?.off('SIGHUP', onHangup)
  }
}
