import type { TLSSocket } from 'node:tls'
import type { FastifyError, FastifyRequest } from 'fastify'
import type { Route } from '../config/load.js'
import { errors } from '../errors.js'
import { authenticate, challenges, presentedCredentials, type Identity } from './auth.js'
import type { Admission, SessionCounter } from './limits.js'
import { originAllowed } from './origin.js'

/** Seconds a client refused for a full server is told to wait (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 5

/** A request let through: who it is, and the session place it holds (upgrades only). */
export interface Pass {
  readonly refusal?: undefined
  readonly identity: Identity | undefined
  readonly admission: Admission | undefined
}

/** A request refused before any process starts: the error to answer with and its headers. */
export interface Refusal {
  readonly refusal: FastifyError
  readonly headers: Readonly<Record<string, string | string[]>>
}

/** The subject CN of a verified client certificate, when the server asks for one. */
function certificateIdentity (request: FastifyRequest): Identity | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>
  if (socket.authorized !== true) return undefined
  // A subject with several CNs gives an array: String() joins it.
  return { name: String((socket as TLSSocket).getPeerCertificate().subject.CN), type: 'Certificate' }
}

/**
 * Checks a request for `route` in order: origin (403), credentials (401), then, for upgrades,
 * the session limits (503 server or route full, 429 this client has too many).
 */
export async function checkRequest (request: FastifyRequest, route: Route, counter: SessionCounter): Promise<Pass | Refusal> {
  const { headers } = request.raw
  if (headers.host === undefined) return { refusal: new errors.BAD_HANDSHAKE('no Host header'), headers: {} }
  if (!originAllowed(route, headers.origin, headers.host)) {
    return { refusal: new errors.ORIGIN_NOT_ALLOWED(headers.origin ?? '(none)', route.path), headers: {} }
  }
  let identity = certificateIdentity(request)
  if (route.auth !== null) {
    identity = await authenticate(route.auth, presentedCredentials(headers, request.url))
    if (identity === undefined) return { refusal: new errors.UNAUTHORIZED(route.path), headers: { 'www-authenticate': challenges(route.auth) } }
  }
  if (!request.ws) return { identity, admission: undefined }
  const admission = counter.admit(route.path, route, request.ip)
  if (admission === 'client') return { refusal: new errors.TOO_MANY_CLIENT_SESSIONS(route.path), headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } }
  if (typeof admission === 'string') return { refusal: new errors.TOO_MANY_SESSIONS(route.path), headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } }
  return { identity, admission }
}
