import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { isDeepStrictEqual } from 'node:util'
import websocket from '@fastify/websocket'
import fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type WebSocket from 'ws'
import { registerBrowser } from './browser/plugin.js'
import type { Config, Route } from './config/load.js'
import type { TlsSpec } from './config/security.js'
import { errors } from './errors.js'
import { Metrics } from './metrics.js'
import { restartKeys } from './reload.js'
import { buildArgv, compileRoutes, matchRoute, type RouteMatch, type RouteTable } from './routes.js'
import { AuthFailures } from './security/failures.js'
import { checkEndpointRequest, checkRequest, type Pass } from './security/guard.js'
import { hostAllowed, hostsFor } from './security/hosts.js'
import { SessionCounter } from './security/limits.js'
import { visibleRequest } from './security/secrets.js'
import { transportOptions } from './security/tls.js'
import { watch } from './security/watchdog.js'
import { routeEnvironment, sessionEnvironment } from './session/env.js'
import { OutputBuffer } from './session/output-buffer.js'
import { Session } from './session/session.js'
import { answerProtocol, negotiateStreams, offeredProtocols, rememberStreams, streamsOf, type SessionStreams } from './session/streams.js'
import { closeSessions, settledWithin } from './shutdown.js'
import { VERSION } from './version.js'

/** Largest message accepted from a client by default, in bytes (`maxMessageBytes`). */
export const MAX_MESSAGE_BYTES = 1_048_576

/** Seconds a refused client is told to wait (`Retry-After`) while the server drains. */
export const DRAIN_RETRY_AFTER_SECONDS = 5

/** What {@link buildServer} needs. */
export interface ServerOptions {
  readonly config: Config
  readonly logger: FastifyBaseLogger
  /** The server's environment, from which routes' `passEnv` variables are taken. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** The live state of a server and what operations can do with it. */
export interface WsexecState {
  readonly sessions: ReadonlySet<Session>
  /** The configuration new sessions get. */
  readonly config: Config
  /** True from the start of a drain on: readiness fails and new upgrades get 503. */
  readonly draining: boolean
  readonly metrics: Metrics
  /** The server for metrics on their own port (`metrics.port`), not listening yet; else undefined. */
  readonly metricsServer: FastifyInstance | undefined
  /** New sessions get `config` (routes resolved); running sessions keep theirs. */
  reload (config: Config): void
  /**
   * Stops accepting sessions, lets running ones finish for up to `timeoutMs` (default
   * `shutdown.drainTimeout`; sessions whose program never started are not waited for), then
   * closes the rest with 1001 and ends their processes. Always ends: see {@link closeSessions}.
   */
  drain (timeoutMs?: number): Promise<void>
  /** Ends every session at once (1001, SIGKILL, connection dropped); a drain under way stops waiting. */
  kill (): void
}

declare module 'fastify' {
  interface FastifyInstance {
    wsexec: WsexecState
  }
  interface FastifyRequest {
    wsexecMatch: RouteMatch | null
    wsexecPass: Pass | null
  }
}

interface Routing {
  readonly config: Config
  readonly table: RouteTable
  readonly envs: ReadonlyMap<Route, Readonly<Record<string, string>>>
}

function compile (config: Config, env: Readonly<Record<string, string | undefined>>): Routing {
  const software = `wsexec/${VERSION}`
  const envs = new Map(config.routes.map((r) => [r, routeEnvironment(r, env, software)]))
  return { config, table: compileRoutes(config.routes), envs }
}

/** ws's limit is server-wide: the largest route's; each session checks its route's own. */
function largestMessage (config: Config): number {
  return Math.max(...config.routes.map((r) => r.maxMessageBytes))
}

function pathOf (request: FastifyRequest): string {
  return request.url.split('?')[0] as string
}

/**
 * A fastify server that serves the configuration's routes over WebSocket, with health,
 * readiness and Prometheus metrics endpoints. It never listens: call `listen()`. Closing it ends
 * every session with 1001 and terminates their processes; `app.wsexec.drain()` first lets them finish.
 */
export async function buildServer (options: ServerOptions): Promise<FastifyInstance> {
  const env = options.env ?? {}
  let routing = compile(options.config, env)
  let draining = false
  const sessions = new Set<Session>()
  const metrics = new Metrics()
  const { health, metrics: metricsConfig, security } = options.config
  const counter = new SessionCounter(security)
  // One reusable buffer for every session's output frames: see OutputBuffer.
  const output = new OutputBuffer()
  const failures = new AuthFailures()
  /** The certificate, key and CA new TLS handshakes use. */
  let pem = security.tls?.pem ?? null
  /** Aborted by {@link WsexecState.kill}: nothing waits for sessions any more. */
  const killed = new AbortController()
  const app = fastify({
    ...transportOptions(security),
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // By close time the sessions are gone: what is left (a request head trickling in) must not hold the stop.
    forceCloseConnections: true
  }) as unknown as FastifyInstance
  const metricsServer = metricsConfig.enabled && metricsConfig.port !== undefined
    ? fastify({ loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }), keepAliveTimeout: security.keepAliveTimeoutMs, forceCloseConnections: true })
    : undefined
  // Node closes connections over the cap as they arrive ('drop'): idle clients cannot take every descriptor.
  app.server.maxConnections = security.maxConnections
  app.server.on('drop', () => metrics.refused('too_many_connections'))
  // Once listening, an error of the server is a failed accept (EMFILE, ENFILE): it serves on.
  // Without a listener the 'error' event would end the process. (While listen() runs, fastify has its own.)
  app.server.once('listening', () => {
    app.server.on('error', (err: NodeJS.ErrnoException) => app.log.warn({ err: { code: err.code, message: err.message } }, 'server error'))
  })

  // Every deliberate refusal is counted by its error code: WSEXEC_ERR_ORIGIN_NOT_ALLOWED → origin_not_allowed.
  const refuse = (reply: FastifyReply, err: FastifyError): FastifyReply => {
    metrics.refused(err.code.replace('WSEXEC_ERR_', '').toLowerCase())
    return reply.send(err)
  }

  // The server's own endpoints (console, AsyncAPI document, browser and static files, metrics on
  // the main port) require the top level's auth; health and readiness never do.
  const endpointGuard = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const verdict = await checkEndpointRequest(request, routing.config.auth, pathOf(request), failures)
    return verdict === undefined ? undefined : refuse(reply.headers(verdict.headers), verdict.refusal)
  }

  async function drain (timeoutMs = routing.config.shutdown.drainTimeoutMs): Promise<void> {
    draining = true
    if (sessions.size > 0) await settledWithin([...sessions].map((s) => s.settled), timeoutMs, killed.signal)
    await closeAll()
  }

  /** Closes every session with 1001 and waits (a bounded time) until their processes are gone. */
  async function closeAll (): Promise<void> {
    await closeSessions(sessions, app.log, killed.signal)
  }

  app.decorate('wsexec', {
    sessions,
    metrics,
    metricsServer,
    drain,
    kill () {
      killed.abort()
      for (const s of sessions) s.kill()
    },
    get config () { return routing.config },
    get draining () { return draining },
    reload (config: Config) {
      routing = compile(config, env)
      counter.setServerLimits(config.security)
      app.server.maxConnections = config.security.maxConnections
      app.server.keepAliveTimeout = config.security.keepAliveTimeoutMs
      app.websocketServer.options.maxPayload = largestMessage(config)
      app.log.info({ routes: config.routes.length, source: config.source }, 'configuration reloaded')
      const keys = restartKeys(options.config, config)
      // The files are read again: a renewed certificate needs no restart. A new TLS mode does, and
      // until then the files stay as they are (a server that asks for client certificates keeps its CA).
      const next = config.security.tls?.pem ?? null
      if (pem !== null && next !== null && !keys.includes('tls') && !isDeepStrictEqual(pem, next)) {
        pem = next
        const server = app.server as HttpsServer
        server.setSecureContext(pem)
        app.log.info({ cert: (config.security.tls as TlsSpec).cert }, 'TLS certificate reloaded')
      }
      if (keys.length > 0) app.log.warn({ keys }, 'restart to apply these settings')
    }
  })
  app.decorateRequest('wsexecMatch', null)
  app.decorateRequest('wsexecPass', null)

  await app.register(websocket, {
    options: {
      maxPayload: largestMessage(options.config),
      perMessageDeflate: false,
      handleProtocols: answerProtocol
    },
    // ws closes the connection itself on protocol errors (1002, 1007, 1009): only log them.
    errorHandler (err: Error, _socket: WebSocket, request: FastifyRequest) {
      request.log.info({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'websocket error')
    },
    preClose: async () => {
      await closeAll()
      app.websocketServer.close()
    }
  })

  // Before anything else, on every server: a Host that is not allowed is DNS rebinding (or a
  // misdirected request). The default depends on where the connection came in.
  const hostGuard = (listenHost: string) => (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const { host } = request.raw.headers
    if (host === undefined && request.ws) refuse(reply, new errors.BAD_HANDSHAKE('no Host header'))
    else if (hostAllowed(hostsFor(routing.config.security.allowedHosts, request.raw.socket.localAddress, listenHost), host)) done()
    else refuse(reply, new errors.HOST_NOT_ALLOWED(host ?? '(none)'))
  }
  metricsServer?.addHook('onRequest', hostGuard(metricsConfig.host ?? options.config.listen.host))

  // After @fastify/websocket's own hook, which marks upgrades (refused ones are then closed).
  app.addHook('onRequest', hostGuard(options.config.listen.host))

  // Sessions log their own start and end; a refused request gets one line here.
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode >= 400) {
      request.log.info({ status: reply.statusCode, path: pathOf(request), remote: request.socket.remoteAddress, upgrade: request.ws }, 'request refused')
    }
    done()
  })

  // Extra response headers (websocketd's --header, --header-ws, --header-http), read at each
  // response so that a reload applies them.
  app.addHook('onSend', (_request, reply, payload, done) => {
    const { any, http } = routing.config.headers
    for (const name in any) reply.header(name, any[name])
    for (const name in http) reply.header(name, http[name])
    done(null, payload)
  })
  app.websocketServer.on('headers', (lines: string[]) => {
    const { any, ws } = routing.config.headers
    for (const name in any) lines.push(`${name}: ${any[name] as string}`)
    for (const name in ws) lines.push(`${name}: ${ws[name] as string}`)
  })

  const browser = await registerBrowser(app, options.config)

  app.setNotFoundHandler((request, reply) => {
    refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
  })

  // Operations endpoints never upgrade and never start anything.
  const plainOnly = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (request.ws) refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
    else done()
  }
  app.get(health.live, { onRequest: plainOnly }, async () => ({ status: 'ok' }))
  app.get(health.ready, { onRequest: plainOnly }, async (_request, reply) => {
    if (draining) return reply.code(503).send({ status: 'draining' })
    return { status: 'ready', sessions: sessions.size }
  })
  if (metricsConfig.enabled) {
    const target = metricsServer ?? app
    target.get(metricsConfig.path, { onRequest: metricsServer === undefined ? [plainOnly, endpointGuard] : plainOnly }, async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })
  }

  app.route({
    method: 'GET',
    url: '/*',
    async onRequest (request: FastifyRequest, reply: FastifyReply) {
      const pathname = pathOf(request)
      const match = matchRoute(routing.table, pathname)
      // Upgrades to unknown paths are refused before the upgrade; plain GETs may be browser files,
      // and a plain GET of / the console even where a route at / takes the upgrades.
      if (match === undefined || (!request.ws && pathname === '/' && options.config.console)) {
        if (request.ws) return refuse(reply, new errors.ROUTE_NOT_FOUND(pathname))
        return endpointGuard(request, reply)
      }
      // websocketd serves plain GETs from --staticdir/--devconsole on the paths its command owns.
      if (!request.ws && match.compiled.route.pathInfo) return
      if (draining && request.ws) {
        reply.header('retry-after', String(DRAIN_RETRY_AFTER_SECONDS))
        return refuse(reply, new errors.DRAINING())
      }
      request.wsexecMatch = match
      const verdict = await checkRequest(request, match.compiled.route, counter, failures)
      if (verdict.refusal !== undefined) return refuse(reply.headers(verdict.headers), verdict.refusal)
      if (request.ws) {
        const streams = negotiateStreams(match.compiled.route, offeredProtocols(request.headers['sec-websocket-protocol']), request.url)
        if (!('channel' in streams)) {
          verdict.admission?.release()
          return refuse(reply, streams)
        }
        rememberStreams(request.raw, streams)
      }
      request.wsexecPass = verdict
      // Given back when the session ends, or here when the upgrade never happens: at once when the
      // client left during the credential check (its 'close' has passed; ws will not upgrade it).
      const admission = verdict.admission
      const socket = request.raw.socket
      if (admission === undefined) return
      if (socket.destroyed) admission.release()
      else socket.once('close', () => { if (request.wsexecPass !== null) admission.release() })
    },
    handler (request, reply) {
      if (browser(request, reply, request.wsexecMatch !== null)) return
      if (request.wsexecMatch === null) {
        refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
        return
      }
      reply.header('upgrade', 'websocket')
      refuse(reply, new errors.UPGRADE_REQUIRED((request.wsexecMatch as RouteMatch).compiled.route.path))
    },
    wsHandler (ws: WebSocket, request: FastifyRequest) {
      const upgraded = performance.now()
      const match = request.wsexecMatch as RouteMatch
      const pass = request.wsexecPass as Pass
      request.wsexecPass = null
      const route = match.compiled.route
      const raw: IncomingMessage = request.raw
      const socket = raw.socket as Socket
      const id = randomUUID()
      // The client's address, from X-Forwarded-For when the peer is a trusted proxy; none on a Unix socket.
      const remoteAddress = request.ip ?? ''
      const remotePort = socket.remotePort ?? 0
      const pathname = pathOf(request)
      const visible = visibleRequest(raw.headers, request.url, route.passHeaders)
      const childEnv = sessionEnvironment(routing.envs.get(route) as Record<string, string>, route, {
        remoteAddress,
        remotePort,
        serverPort: socket.localPort ?? 0,
        url: visible.url,
        pathname,
        pathInfo: match.pathInfo,
        headers: visible.headers,
        secure: security.tls !== null,
        user: pass.identity
      }, match.params, id)
      const session = new Session({
        id,
        route,
        file: route.executable,
        args: buildArgv(match).slice(1),
        env: childEnv,
        ws,
        socket,
        log: request.log,
        remoteAddress,
        streams: streamsOf(raw) as SessionStreams,
        requestPath: pathname,
        output
      })
      sessions.add(session)
      watch(session, ws, { idleTimeoutMs: route.idleTimeoutMs, maxLifetimeMs: route.maxLifetimeMs, pingIntervalMs: routing.config.security.pingIntervalMs })
      session.start()
      const started = session.pid !== undefined
      if (started) metrics.started(route.path, (performance.now() - upgraded) / 1000)
      session.done.then((summary) => {
        sessions.delete(session)
        pass.admission?.release()
        metrics.ended(route.path, summary, started)
      }, () => {})
    }
  })
  return app
}
