import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import { checkEndpointRequest } from '../security/guard.js'
import { hostAllowed, hostsFor } from '../security/hosts.js'
import { pathOf, type ServerState } from './state.js'

/** An `onRequest` hook in callback style. */
export type RequestHook = (request: FastifyRequest, reply: FastifyReply, done: () => void) => void

/**
 * Refuses a request whose Host is not allowed (DNS rebinding, or a misdirected request), and an
 * upgrade without a Host. The default depends on the address the connection came in on.
 */
export function hostGuard (state: ServerState): RequestHook {
  return (request, reply, done) => {
    const { host } = request.raw.headers
    if (host === undefined && request.ws) state.refuse(reply, new errors.BAD_HANDSHAKE('no Host header'))
    else if (hostAllowed(hostsFor(state.routing.config.security.allowedHosts, request.raw.socket.localAddress), host)) done()
    else state.refuse(reply, new errors.HOST_NOT_ALLOWED(host ?? '(none)'))
  }
}

/** Operations endpoints never upgrade and never start anything: an upgrade there is not found. */
export function plainOnly (state: ServerState): RequestHook {
  return (request, reply, done) => {
    if (request.ws) state.refuse(reply, new errors.ROUTE_NOT_FOUND(pathOf(request)))
    else done()
  }
}

/**
 * The server's own endpoints (console, AsyncAPI document, browser and static files, metrics on
 * the main port) require the top level's auth; health and readiness never do.
 */
export function endpointGuard (state: ServerState): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (request, reply) => {
    const verdict = await checkEndpointRequest(request, state.routing.config.auth, pathOf(request), state.failures)
    return verdict === undefined ? undefined : state.refuse(reply.headers(verdict.headers), verdict.refusal)
  }
}
