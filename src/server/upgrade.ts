import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type WebSocket from 'ws'
import type { BrowserAnswer } from '../browser/plugin.js'
import type { LoadedRoute } from '../config/model.js'
import { errors, RETRY_AFTER_SECONDS } from '../errors.js'
import { checkRequest, type Pass } from '../security/guard.js'
import { negotiateStreams, offeredProtocols, rememberStreams } from '../session/streams.js'
import { endpointGuard } from './guards.js'
import { kubeAnswer, type KubeAnswer } from './kube-api.js'
import { redirectFor } from './path-info.js'
import { buildArgv, matchRoute, type RouteMatch } from './routes.js'
import { pathOf, type ServerState } from './state.js'

/** Seconds a refused client is told to wait (`Retry-After`) while the server drains. */

/** What the upgrade plugin needs. */
export interface UpgradeOptions {
  readonly state: ServerState
  /** Answers plain GETs that are not upgrades (console, browser and static files). */
  readonly browser: BrowserAnswer
  /** The console owns plain GETs of `/` (a restart setting: the built configuration's). */
  readonly console: boolean
  /** True when the server speaks TLS (a restart setting: the built configuration's). */
  readonly secure: boolean
}

/**
 * The catch-all route: matches the path, refuses what may not pass (not found, draining,
 * origin, auth, limits, subprotocol) before the upgrade, and hands an admitted upgrade to a new
 * session. The admission slot is given back when the session ends, or when the upgrade never happens.
 */
async function upgrade (app: FastifyInstance, { state, browser, console, secure }: UpgradeOptions): Promise<void> {
  const guard = endpointGuard(state)
  // kubectl's discovery and Pod reads, under the checks (origin, certificate, auth) of the exec route they lead to.
  async function answerKube (request: FastifyRequest, reply: FastifyReply, kube: KubeAnswer): Promise<FastifyReply> {
    const verdict = await checkRequest(request, kube.route, state.counter, state.failures)
    if (verdict.refusal !== undefined) return state.refuse(reply.headers(verdict.headers), verdict.refusal)
    return reply.code(kube.status).type('application/json').send(kube.body)
  }
  app.setNotFoundHandler((request, reply) => {
    state.refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
  })
  app.route({
    method: 'GET',
    url: '/*',
    async onRequest (request: FastifyRequest, reply: FastifyReply) {
      // websocketd's commands (pathInfo routes) see clean paths: `..`, `.` and `//` are redirected first, as it does.
      const location = state.routing.table.prefixes.length > 0 ? redirectFor(request.url) : undefined
      if (location !== undefined) return reply.redirect(location, 301)
      const pathname = pathOf(request)
      const match = matchRoute(state.routing.table, pathname)
      // Upgrades to unknown paths are refused before the upgrade; plain GETs may be browser files,
      // and a plain GET of / the console even where a route at / takes the upgrades.
      if (match === undefined || (!request.ws && pathname === '/' && console)) {
        if (request.ws) return state.refuse(reply, new errors.ROUTE_NOT_FOUND(pathname))
        const kube = kubeAnswer(state.routing.table, pathname)
        return kube === undefined ? guard(request, reply) : answerKube(request, reply, kube)
      }
      // websocketd serves plain GETs from --staticdir/--devconsole on the paths its command owns.
      if (!request.ws && match.compiled.route.pathInfo) return
      if (state.draining && request.ws) {
        reply.header('retry-after', String(RETRY_AFTER_SECONDS))
        return state.refuse(reply, new errors.DRAINING())
      }
      // Starts in flight beyond the bound: refused before any work (a spawner that cannot keep up).
      if (request.ws && state.starter !== undefined && state.starter.inFlight >= state.routing.config.maxPendingSpawns) {
        reply.header('retry-after', String(RETRY_AFTER_SECONDS))
        return state.refuse(reply, new errors.BUSY())
      }
      request.wsexecMatch = match
      const verdict = await checkRequest(request, match.compiled.route, state.counter, state.failures)
      if (verdict.refusal !== undefined) return state.refuse(reply.headers(verdict.headers), verdict.refusal)
      if (request.ws) {
        const streams = negotiateStreams(match.compiled.route, offeredProtocols(request.headers['sec-websocket-protocol']), request.url)
        if (!('channel' in streams)) {
          verdict.admission?.release()
          return state.refuse(reply, streams)
        }
        rememberStreams(request.raw, streams, match.compiled.route.tty)
      }
      request.wsexecPass = verdict
      // Given back when the session ends, or here when the upgrade never happens: at once when the
      // client left during the credential check (its 'close' has passed; ws will not upgrade it).
      const admission = verdict.admission
      const socket = request.raw.socket
      if (admission !== undefined) {
        if (socket.destroyed) admission.release()
        else socket.once('close', () => { if (request.wsexecPass !== null) admission.release() })
      }
      // The session code is loaded on the first upgrade (or once listening), not at start-up.
      if (request.ws) await state.loadSessions()
    },
    handler (request, reply) {
      if (browser(request, reply, request.wsexecMatch !== null)) return
      if (request.wsexecMatch === null) {
        state.refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
        return
      }
      reply.header('upgrade', 'websocket')
      state.refuse(reply, new errors.UPGRADE_REQUIRED((request.wsexecMatch as RouteMatch<LoadedRoute>).compiled.route.path))
    },
    wsHandler (ws: WebSocket, request: FastifyRequest) {
      const match = request.wsexecMatch as RouteMatch<LoadedRoute>
      const pass = request.wsexecPass as Pass
      request.wsexecPass = null
      const { routing, metrics, sessions } = state
      const route = match.compiled.route
      state.startSession(ws, request, {
        route,
        argv: buildArgv(match),
        params: match.params,
        pathInfo: match.pathInfo,
        identity: pass.identity,
        account: pass.account,
        baseEnv: routing.envs.get(route) as Record<string, string>,
        secure,
        pingIntervalMs: routing.config.security.pingIntervalMs,
        lines: state.lines,
        output: state.output,
        fastReceive: state.fastReceive,
        starter: state.starter,
        shared: state.shared,
        gauges: metrics
      }, {
        opened: (session) => sessions.add(session),
        started: (path, seconds) => metrics.started(path, seconds),
        ended (session, summary, started) {
          sessions.delete(session)
          pass.admission?.release()
          metrics.ended(route.path, summary, started)
        }
      })
    }
  })
}

/** {@link upgrade} as a plugin that shares the server's scope. */
export const upgradePlugin = fp(upgrade, { name: 'wsexec-upgrade', fastify: '5.x' })
