import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { LoadedConfig } from '../config/model.js'
import { transportOptions } from '../security/tls.js'
import { lazyCompilers } from './compilers.js'
import { ConnectionCap } from './connection-cap.js'
import { hostGuard } from './guards.js'
import { pathOf, type ServerState } from './state.js'
import { frameworkErrors } from './upgrade-sockets.js'

/**
 * The main fastify server (HTTP or HTTPS by `security.tls`, connection cap, keep-alive, trusted
 * proxies) and, when `metrics.port` is set, the metrics server; neither listens yet.
 */
export function createServers (config: LoadedConfig, logger: FastifyBaseLogger, state: ServerState): { app: FastifyInstance, metricsServer: FastifyInstance | undefined } {
  const { security, metrics } = config
  const app = fastify({
    ...transportOptions(security),
    ...lazyCompilers(),
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    frameworkErrors: frameworkErrors(state),
    // By close time the sessions are gone: what is left (a request head trickling in) must not hold the stop.
    forceCloseConnections: true
  }) as unknown as FastifyInstance
  const metricsServer = metrics.enabled && metrics.port !== undefined
    ? fastify({ ...lazyCompilers(), loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }), keepAliveTimeout: security.keepAliveTimeoutMs, forceCloseConnections: true })
    : undefined
  // Connections over the cap (the configured one within the descriptor budget) are answered 503
  // and closed as they arrive: idle clients cannot take the descriptors the admitted sessions need.
  state.connections = new ConnectionCap(app.server, security.tls !== null, () => state.metrics.refused('too_many_connections'))
  state.connections.max = state.limits.maxConnections
  // Once listening, an error of the server is a failed accept (EMFILE, ENFILE): it serves on.
  // Without a listener the 'error' event would end the process. (While listen() runs, fastify has its own.)
  app.server.once('listening', () => {
    app.server.on('error', (err: NodeJS.ErrnoException) => app.log.warn({ err: { code: err.code, message: err.message } }, 'server error'))
  })
  metricsServer?.addHook('onRequest', hostGuard(state))
  return { app, metricsServer }
}

/** What the HTTP plugin needs. */
export interface HttpOptions {
  readonly state: ServerState
}

/**
 * What every request and response of the main server goes through: the Host check first (after
 * @fastify/websocket's own hook, which marks upgrades), one log line per refused request, and
 * the configured extra headers (websocketd's --header, --header-ws, --header-http), read at each
 * response so that a reload applies them.
 */
async function http (app: FastifyInstance, { state }: HttpOptions): Promise<void> {
  app.addHook('onRequest', hostGuard(state))
  // Sessions log their own start and end; a refused request gets one line here.
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode >= 400) {
      request.log.info({ status: reply.statusCode, path: pathOf(request), remote: request.socket.remoteAddress, upgrade: request.ws }, 'request refused')
    }
    done()
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    const { any, http } = state.routing.config.headers
    for (const name in any) reply.header(name, any[name])
    for (const name in http) reply.header(name, http[name])
    done(null, payload)
  })
  app.websocketServer.on('headers', (lines: string[]) => {
    const { any, ws } = state.routing.config.headers
    for (const name in any) lines.push(`${name}: ${any[name] as string}`)
    for (const name in ws) lines.push(`${name}: ${ws[name] as string}`)
  })
}

/** {@link http} as a plugin that shares the server's scope; after the WebSocket plugin. */
export const httpPlugin = fp(http, { name: 'wsexec-http', fastify: '5.x', dependencies: ['wsexec-websocket'] })
