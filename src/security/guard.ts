import type { TLSSocket } from 'node:tls'
import type { FastifyError, FastifyRequest } from 'fastify'
import type { Account } from '../config/accounts.js'
import { perUser } from '../config/containment.js'
import type { LoadedAuth, LoadedRoute } from '../config/model.js'
import { sessionAccount } from './accounts.js'
import { errors, RETRY_AFTER_SECONDS } from '../errors.js'
import { authenticate, challenges, presentedCredentials, type Identity } from './auth.js'
import type { AuthFailures } from './failures.js'
import type { Admission, SessionCounter } from './limits.js'
import { originAllowed } from './origin.js'
import { allowedBy, headerIdentity } from './trusted-header.js'

/** A request let through: who it is, and the session place it holds (upgrades only). */
export interface Pass {
  readonly refusal?: undefined
  readonly identity: Identity | undefined
  /** `user: "{REMOTE_USER}"`: the local account the session runs as. */
  readonly account?: Account | undefined
  readonly admission: Admission | undefined
}

/** A request refused before any process starts: the error to answer with and its headers. */
export interface Refusal {
  readonly refusal: FastifyError
  readonly headers: Readonly<Record<string, string | string[]>>
}

/**
 * The subject CN of a verified client certificate, when the server asks for one; null when the
 * certificate carries no CN or several (it then names no one).
 */
function certificateIdentity (request: FastifyRequest): Identity | undefined | null {
  const socket = request.raw.socket as Partial<TLSSocket>
  if (socket.authorized !== true) return undefined
  // Several CNs come as an array, none as undefined.
  const cn: unknown = (socket as TLSSocket).getPeerCertificate().subject.CN
  return typeof cn === 'string' ? { name: cn, type: 'Certificate' } : null
}

/**
 * Checks the credentials of a request against `spec` for `resource` (named in the refusal): the
 * user named in `auth.header` by a trusted peer, else 401 without credentials; 429 while its address has failed too often (counted before the check, given
 * back when it succeeds); 401 when they prove no one. The client address honours `trustProxy`.
 */
export async function checkCredentials (request: FastifyRequest, spec: LoadedAuth, resource: string, failures: AuthFailures): Promise<Identity | Refusal> {
  const schemes = challenges(spec)
  const unauthorized = { refusal: new errors.UNAUTHORIZED(resource), headers: schemes.length === 0 ? {} : { 'www-authenticate': schemes } }
  // The proxy in front vouches for the user: no password to guess, nothing to count.
  const vouched = headerIdentity(spec, request.raw.headers, request.raw.socket.remoteAddress)
  if (vouched !== undefined) return vouched
  const presented = presentedCredentials(request.raw.headers, request.url)
  if (presented.bearer === undefined && presented.basic === undefined) return unauthorized
  const client = request.ip ?? ''
  const wait = await failures.attempt(spec, client)
  if (wait > 0) return { refusal: new errors.TOO_MANY_AUTH_FAILURES(resource), headers: { 'retry-after': String(wait) } }
  const identity = await authenticate(spec, presented)
  if (identity === undefined) return unauthorized
  await failures.succeeded(spec, client)
  return identity
}

/**
 * Checks a request for one of the server's own endpoints at `resource` (console, AsyncAPI
 * document, browser and static files, metrics on the main port): the client certificate must
 * name one user (401), and the top level's `auth`, when set, must accept the credentials.
 */
export async function checkEndpointRequest (request: FastifyRequest, auth: LoadedAuth | null, resource: string, failures: AuthFailures): Promise<Refusal | undefined> {
  if (certificateIdentity(request) === null) return { refusal: new errors.BAD_CLIENT_CERTIFICATE(), headers: {} }
  if (auth === null) return undefined
  const verdict = await checkCredentials(request, auth, resource, failures)
  return 'refusal' in verdict ? verdict : undefined
}

/**
 * Checks a request for `route` in order: origin (403), client certificate and credentials (401,
 * or 429 after too many failures), the `users`/`groups` lists and the `{REMOTE_USER}` account
 * (403), then, for upgrades, the session limits (503 server or route full, 429 this client has too many).
 */
export async function checkRequest (request: FastifyRequest, route: LoadedRoute, counter: SessionCounter, failures: AuthFailures): Promise<Pass | Refusal> {
  const { headers } = request.raw
  if (headers.host === undefined) return { refusal: new errors.BAD_HANDSHAKE('no Host header'), headers: {} }
  if (!originAllowed(route, headers.origin, headers.host)) {
    return { refusal: new errors.ORIGIN_NOT_ALLOWED(headers.origin ?? '(none)', route.path), headers: {} }
  }
  let identity = certificateIdentity(request)
  if (identity === null) return { refusal: new errors.BAD_CLIENT_CERTIFICATE(), headers: {} }
  if (route.auth !== null) {
    const verdict = await checkCredentials(request, route.auth, route.path, failures)
    if ('refusal' in verdict) return verdict
    identity = verdict
  }
  if (route.users !== null || route.groups !== null) {
    if (identity === undefined) return { refusal: new errors.UNAUTHORIZED(route.path), headers: {} }
    if (!allowedBy(route.users, route.groups, identity)) return { refusal: new errors.FORBIDDEN(identity.name, route.path), headers: {} }
  }
  let account: Account | undefined
  const { runAs } = route.containment
  // The configuration makes such a route require auth: there is an identity here.
  if (perUser(runAs)) {
    account = await sessionAccount(runAs as NonNullable<typeof runAs>, identity as Identity)
    if (account === undefined) return { refusal: new errors.FORBIDDEN((identity as Identity).name, route.path), headers: {} }
  }
  if (!request.ws) return { identity, account, admission: undefined }
  const admission = counter.admit(route.path, route, request.ip)
  if (admission === 'client') return { refusal: new errors.TOO_MANY_CLIENT_SESSIONS(route.path), headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } }
  if (typeof admission === 'string') return { refusal: new errors.TOO_MANY_SESSIONS(route.path), headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } }
  return { identity, account, admission }
}
