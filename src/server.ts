import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import websocket from '@fastify/websocket'
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type WebSocket from 'ws'
import type { Config, Route } from './config/load.js'
import { errors } from './errors.js'
import { buildArgv, compileRoutes, matchRoute, type RouteMatch, type RouteTable } from './routes.js'
import { selectProtocol } from './security/auth.js'
import { checkRequest, type Pass } from './security/guard.js'
import { SessionCounter } from './security/limits.js'
import { visibleRequest } from './security/secrets.js'
import { transportOptions } from './security/tls.js'
import { watch } from './security/watchdog.js'
import { routeEnvironment, sessionEnvironment } from './session/env.js'
import { Session } from './session/session.js'
import { VERSION } from './version.js'

/** Largest message accepted from a client by default, in bytes (`maxMessageBytes`). */
export const MAX_MESSAGE_BYTES = 1_048_576

/** What {@link buildServer} needs. */
export interface ServerOptions {
  readonly config: Config
  readonly logger: FastifyBaseLogger
  /** The server's environment, from which routes' `passEnv` variables are taken. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** The live state of a server: its routes (replaceable) and its sessions. */
export interface WsexecState {
  readonly sessions: ReadonlySet<Session>
  readonly config: Config
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

/**
 * A fastify server that serves the configuration's routes over WebSocket. It never listens:
 * call `listen()`. Closing it ends every session with 1001 and terminates their processes.
 */
export async function buildServer (options: ServerOptions): Promise<FastifyInstance> {
  const env = options.env ?? {}
  const routing = compile(options.config, env)
  const sessions = new Set<Session>()
  const { security } = options.config
  const counter = new SessionCounter(security)
  const app = fastify({
    ...transportOptions(security),
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true
  }) as unknown as FastifyInstance

  app.decorate('wsexec', {
    sessions,
    get config () { return routing.config }
  })
  app.decorateRequest('wsexecMatch', null)
  app.decorateRequest('wsexecPass', null)

  await app.register(websocket, {
    // ws's limit is server-wide: the largest route's; each session checks its route's own.
    options: {
      maxPayload: Math.max(...options.config.routes.map((r) => r.maxMessageBytes)),
      perMessageDeflate: false,
      handleProtocols: selectProtocol
    },
    // ws closes the connection itself on protocol errors (1002, 1007, 1009): only log them.
    errorHandler (err: Error, _socket: WebSocket, request: FastifyRequest) {
      request.log.info({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'websocket error')
    },
    preClose: async () => {
      for (const s of sessions) s.shutdown()
      await Promise.all([...sessions].map((s) => s.done))
      app.websocketServer.close()
    }
  })

  // Sessions log their own start and end; a refused request gets one line here.
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode >= 400) {
      request.log.info({ status: reply.statusCode, path: request.url.split('?')[0], remote: request.socket.remoteAddress, upgrade: request.ws }, 'request refused')
    }
    done()
  })

  app.setNotFoundHandler((request, reply) => {
    reply.send(new errors.ROUTE_NOT_FOUND(request.url.split('?')[0]))
  })

  app.route({
    method: 'GET',
    url: '/*',
    async onRequest (request: FastifyRequest, reply: FastifyReply) {
      const pathname = request.url.split('?')[0] as string
      const match = matchRoute(routing.table, pathname)
      if (match === undefined) return reply.send(new errors.ROUTE_NOT_FOUND(pathname))
      request.wsexecMatch = match
      const verdict = await checkRequest(request, match.compiled.route, counter)
      if (verdict.refusal !== undefined) return reply.headers(verdict.headers).send(verdict.refusal)
      request.wsexecPass = verdict
      // Given back when the session ends, or here when the upgrade never happens.
      const admission = verdict.admission
      if (admission !== undefined) request.raw.socket.once('close', () => { if (request.wsexecPass !== null) admission.release() })
    },
    handler (request, reply) {
      reply.header('upgrade', 'websocket')
      reply.send(new errors.UPGRADE_REQUIRED((request.wsexecMatch as RouteMatch).compiled.route.path))
    },
    wsHandler (ws: WebSocket, request: FastifyRequest) {
      const match = request.wsexecMatch as RouteMatch
      const pass = request.wsexecPass as Pass
      request.wsexecPass = null
      const route = match.compiled.route
      const raw: IncomingMessage = request.raw
      const socket = raw.socket as Socket
      const id = randomUUID()
      // The client's address, from X-Forwarded-For when the peer is a trusted proxy.
      /* c8 ignore next 2 -- undefined only when the client vanished during the upgrade; the session then just ends */
      const remoteAddress = request.ip ?? ''
      const remotePort = socket.remotePort ?? 0
      const pathname = request.url.split('?')[0] as string
      const visible = visibleRequest(raw.headers, request.url, route.passHeaders)
      const childEnv = sessionEnvironment(routing.envs.get(route) as Record<string, string>, route, {
        remoteAddress,
        remotePort,
        serverPort: socket.localPort as number,
        url: visible.url,
        pathname,
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
        log: request.log.child({ session: id, route: route.path }),
        remoteAddress
      })
      sessions.add(session)
      session.done.then(() => {
        sessions.delete(session)
        pass.admission?.release()
      }, () => {})
      watch(session, ws, { idleTimeoutMs: route.idleTimeoutMs, maxLifetimeMs: route.maxLifetimeMs, pingIntervalMs: security.pingIntervalMs })
      session.start()
    }
  })
  return app
}
