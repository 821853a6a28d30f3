import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config/load.js'
import type { LoadedConfig } from '../config/model.js'
import { ConfigError } from '../errors.js'
import { UsageError, type Options } from './args.js'
import { loadFromOptions } from './configure.js'
import { wildcardWarning } from '../security/hosts.js'
import { ExitCode, type CliIO } from './io.js'

/** Where a configuration listens: its Unix socket, or host:port. */
export function where (config: Config): string {
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
  const rebinding = config.listen.socket === undefined ? wildcardWarning(config.listen.host, config.security.allowedHosts, hostname()) : undefined
  if (rebinding !== undefined) logger.warn({ listen: config.listen.host, add: rebinding.add }, rebinding.msg)
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

/**
 * Serves `config` until SIGINT, SIGTERM or `io.stop` (draining first), reloading on SIGHUP or
 * (with `--watch`) when the file changes, or with `--dir` when the folder does. Resolves to the exit code.
 */
export async function serve (config: LoadedConfig, options: Options, logger: Logger, io: CliIO): Promise<number> {
  const [{ buildServer }, { listenSocket }, { watchFile, watchFolder }] = await Promise.all([
    import('../server/build.js'), import('../unix-socket.js'), import('../server/reload.js')
  ])
  const app = await buildServer(config, { logger, env: io.env })
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
      const next = await loadFromOptions(options, io)
      if (where(next) !== where(config)) logger.warn({ listen: where(next) }, 'listen changed: restart to apply it')
      app.wsexec.reload(next)
    } catch (err) {
      // Only a configuration (or command line) problem is reported as one; anything else is a bug.
      if (err instanceof ConfigError || err instanceof UsageError) logger.error({ problems: err.message }, 'reload rejected: the running configuration stays')
      else logger.error({ err }, 'reload failed: unexpected error (a bug in wsexec; please report it); the running configuration stays')
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
  const { dir } = options.websocketd
  const watcher = options.watch
    ? watchFile(resolve(io.cwd, options.config), onHangup)
    : dir === undefined ? undefined : watchFolder(resolve(io.cwd, dir), onHangup)
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
