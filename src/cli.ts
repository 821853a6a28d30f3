import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { inspect } from 'node:util'
import type { Readable, Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { parseArgs, USAGE, UsageError, type Options } from './cli/args.js'
import type { Config } from './config/load.js'
import { ConfigError } from './errors.js'
import { VERSION } from './version.js'

/** Exit codes of the `wsexec` command. */
export const ExitCode = Object.freeze({ OK: 0, FAILURE: 1, USAGE: 2 })

/** What the command reads and writes besides its arguments; tests pass their own. */
export interface CliIO {
  readonly stdout: Writable & { isTTY?: boolean, columns?: number, rows?: number }
  readonly stderr: Writable
  /** What `wsexec connect` sends; without it, end of input at once. */
  readonly stdin?: Readable & { isTTY?: boolean, setRawMode?: (raw: boolean) => unknown }
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

const HELP_HINT = 'Try \'wsexec --help\' for more information.\n'

/** The short answer to `wsexec` run with nothing to serve. */
function nothingToServe (options: Options, cwd: string): string {
  return `wsexec: nothing to serve: there is no ${options.config} in ${cwd}.
  wsexec -c FILE             serve the routes in a YAML file
  wsexec -- COMMAND [ARGS]   serve one program (websocketd style: wsexec --port=8080 ./script.sh)
  wsexec --dir=FOLDER        serve every executable file in a folder
${HELP_HINT}`
}

async function loadConfig (options: Options, io: CliIO, notes: string[] = []): Promise<Config> {
  const [{ loadConfigFile, parseConfig }, { resolveExecutables }, { loadSecurityFiles }] = await Promise.all([
    import('./config/load.js'), import('./config/executables.js'), import('./security/credentials.js')
  ])
  const overrides = (config: Config): Config => Object.freeze({
    ...config,
    listen: Object.freeze({
      host: options.hosts[0] ?? config.listen.host,
      port: options.port ?? config.listen.port,
      socket: options.socket ?? (options.hosts.length > 0 || options.port !== undefined ? undefined : config.listen.socket)
    }),
    shutdown: Object.freeze({ drainTimeoutMs: options.drainTimeoutMs ?? config.shutdown.drainTimeoutMs }),
    console: options.console || config.console
  })
  let config: Config
  if (options.command.length > 0 || options.websocketd.dir !== undefined) {
    const { buildConfigInput } = await import('./cli/websocketd.js')
    const built = buildConfigInput(options, io.cwd)
    notes.push(...built.notes)
    config = parseConfig(JSON.stringify(built.input), '<command line>', io.cwd, { env: io.env })
  } else {
    config = await loadConfigFile(options.config, io.cwd, { env: io.env })
  }
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
 * SIGTERM; `wsexec connect` runs the client. Resolves to the exit code; never throws.
 */
export async function main (argv: readonly string[], io: CliIO): Promise<number> {
  try {
    if (argv[0] === 'connect') {
      const { connectMain } = await import('./cli/connect.js')
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
    io.stdout.write(readFileSync(new URL('../LICENSE', import.meta.url), 'utf8'))
    return ExitCode.OK
  }
  if (options.printConfig) {
    const [{ buildConfigInput }, { stringify }] = await Promise.all([import('./cli/websocketd.js'), import('yaml')])
    const built = buildConfigInput(options, io.cwd)
    for (const note of built.notes) io.stderr.write(`wsexec: ${note}\n`)
    const extra = options.hosts.slice(1).map((h) => `# --address ${h}: a routes file listens on one address; give --host ${h} (or run one more server) for it\n`).join('')
    io.stdout.write(`# wsexec routes file made by: wsexec ${argv.join(' ')}\n${extra}${stringify(built.input)}`)
    return ExitCode.OK
  }
  const notes: string[] = []
  let config: Config
  try {
    config = await loadConfig(options, io, notes)
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
    const { asyncapiDocument } = await import('./asyncapi.js')
    io.stdout.write(`${JSON.stringify(asyncapiDocument(config), null, 2)}\n`)
    return ExitCode.OK
  }
  const { createLogger } = await import('./logger.js')
  const logger = createLogger(options.logLevel, io.stdout, io.stdout.isTTY === true)
  return serve(config, options, logger, io)
}

function where (config: Config): string {
  return config.listen.socket ?? `${config.listen.host}:${config.listen.port}`
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
  ENOTFOUND: 'unknown host name'
}

/** One line per route with the URL a client connects to (and the console's), as websocketd prints them. */
function announce (app: FastifyInstance, config: Config, logger: Logger, url: string): void {
  let base: string
  if (url.startsWith('unix:')) {
    base = `ws+unix:${url.slice(5)}:`
  } else {
    const address = new URL(url)
    // fastify reports one of the addresses of 0.0.0.0 or ::; clients elsewhere use the machine's name.
    const wildcard = config.listen.host === '0.0.0.0' || config.listen.host === '::'
    base = `${address.protocol.replace('http', 'ws')}//${wildcard ? hostname() : address.hostname}:${address.port}`
  }
  for (const r of config.routes) {
    logger.info({ route: r.path, url: `${base}${r.path}` }, `route ${base}${r.path}${r.pathInfo ? (r.path === '/' ? '…' : '/…') : ''} → ${r.command.join(' ')}`)
  }
  if (config.console) logger.info({ url: `${base.replace(/^ws/, 'http')}/` }, `console ${base.replace(/^ws/, 'http')}/`)
  app.log.debug({ routes: config.routes.length }, 'routes announced')
}

/** Listens on the extra addresses (websocketd's repeated --address): their connections go to `app`'s server. */
async function listenMore (app: FastifyInstance, hosts: readonly string[], port: number): Promise<Server[]> {
  const servers: Server[] = []
  for (const host of hosts) {
    const server = createServer((socket) => app.server.emit('connection', socket))
    servers.push(server)
    server.listen(port, host)
    await once(server, 'listening')
    app.log.info({ address: `${host}:${port}` }, `listening on ${host}:${port} too`)
  }
  return servers
}

async function serve (config: Config, options: Options, logger: Logger, io: CliIO): Promise<number> {
  const [{ buildServer }, { listenSocket }, { watchFile }] = await Promise.all([
    import('./server/build.js'), import('./unix-socket.js'), import('./server/reload.js')
  ])
  const app = await buildServer({ config, logger, env: io.env })
  const { metricsServer } = app.wsexec
  let extra: Server[] = []
  const closeAll = async (): Promise<void> => {
    for (const s of extra) s.close()
    await app.close()
    await metricsServer?.close()
  }
  let stage = where(config)
  try {
    const url = config.listen.socket === undefined
      ? await app.listen({ host: config.listen.host, port: config.listen.port, listenTextResolver: (address) => `listening on ${address}` })
      : await listenSocket(app, config.listen.socket)
    if (config.listen.socket === undefined && options.hosts.length > 1) {
      const port = new URL(url).port
      stage = `${options.hosts.slice(1).join(', ')} port ${port}`
      extra = await listenMore(app, options.hosts.slice(1), Number(port))
    }
    if (metricsServer !== undefined) {
      stage = `${config.metrics.host ?? config.listen.host}:${config.metrics.port as number} (metrics)`
      const metricsUrl = await metricsServer.listen({ host: config.metrics.host ?? config.listen.host, port: config.metrics.port as number, listenTextResolver: (address) => `metrics on ${address}${config.metrics.path}` })
      logger.debug({ url: metricsUrl }, 'metrics listening')
    }
    announce(app, config, logger, url)
    io.onListening?.(url)
  } catch (err) {
    const code = String((err as NodeJS.ErrnoException).code)
    io.stderr.write(`wsexec: cannot listen on ${stage}: ${LISTEN_ERRORS[code] ?? (err as Error).message}\n`)
    await closeAll()
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
    for (const s of extra) s.close()
    await app.wsexec.drain()
    await closeAll()
    logger.info('stopped')
    return ExitCode.OK
  } finally {
    io.signals?.off('SIGINT', onSignal)
    io.signals?.off('SIGTERM', onSignal)
    io.signals?.off('SIGHUP', onHangup)
  }
}
