import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { AuthSpec, Credentials } from '../config/security.js'
import type { LoadedAuth } from '../config/model.js'
import { tokenDigest } from '../config/files.js'
import { comparePassword } from './passwords.js'
import { splitUrl } from '../url.js'

/** Prefix of a `Sec-WebSocket-Protocol` entry that carries a bearer token (browsers cannot set headers). */
export const BEARER_PROTOCOL_PREFIX = 'bearer.'
/** Query parameter that may carry a bearer token. */
export const TOKEN_QUERY_PARAMETER = 'access_token'

/** Who a request authenticated as; `type` becomes the program's AUTH_TYPE. */
export interface Identity {
  readonly name: string
  readonly type: 'Bearer' | 'Basic' | 'Certificate' | 'Proxy'
  /** The user's groups: only the proxy's groups header (`auth.header.groups`) names any. */
  readonly groups?: readonly string[]
}

/** The credentials a request carries, wherever it put them. */
export interface Presented {
  readonly bearer: string | undefined
  readonly basic: { readonly user: string, readonly password: string } | undefined
}

function protocols (headers: IncomingHttpHeaders): string[] {
  return (headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')
}

/** Reads the credentials of a request: `Authorization`, a `bearer.<token>` subprotocol, or `?access_token=`. */
export function presentedCredentials (headers: IncomingHttpHeaders, url: string): Presented {
  const authorization = headers.authorization ?? ''
  const space = authorization.indexOf(' ')
  const scheme = authorization.slice(0, space).toLowerCase()
  const value = authorization.slice(space + 1).trim()
  let bearer = scheme === 'bearer' && value !== '' ? value : undefined
  let basic: Presented['basic']
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0) basic = { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }
  bearer ??= protocols(headers).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX))?.slice(BEARER_PROTOCOL_PREFIX.length)
  const { query } = splitUrl(url)
  if (bearer === undefined && query !== undefined) bearer = new URLSearchParams(query).get(TOKEN_QUERY_PARAMETER) ?? undefined
  return { bearer: bearer === '' ? undefined : bearer, basic }
}

function checkToken (credentials: Credentials, token: string): Identity | undefined {
  const digest = tokenDigest(token)
  let found: string | undefined
  // Every token is compared, in constant time, so timing does not tell how close a guess came.
  for (const t of credentials.tokens) {
    if (timingSafeEqual(t.digest, digest) && found === undefined) found = t.name
  }
  return found === undefined ? undefined : { name: found, type: 'Bearer' }
}

async function checkPassword (credentials: Credentials, user: string, password: string): Promise<Identity | undefined> {
  const hash = credentials.users.get(user)
  // An unknown user costs one bcrypt comparison too, so timing does not tell which users exist.
  const ok = await comparePassword(password, hash ?? credentials.dummyHash)
  return ok && hash !== undefined ? { name: user, type: 'Basic' } : undefined
}

/**
 * The identity the presented credentials prove under `spec`, or undefined when they prove none.
 */
export async function authenticate (spec: LoadedAuth, presented: Presented): Promise<Identity | undefined> {
  const { credentials } = spec
  if (spec.bearer !== null && presented.bearer !== undefined) {
    const identity = checkToken(credentials, presented.bearer)
    if (identity !== undefined) return identity
  }
  if (spec.basic !== null && presented.basic !== undefined) {
    return checkPassword(credentials, presented.basic.user, presented.basic.password)
  }
  return undefined
}

/** The `WWW-Authenticate` challenges of a refusal: one per scheme the route accepts. */
export function challenges (spec: AuthSpec): string[] {
  const out: string[] = []
  if (spec.bearer !== null) out.push(`Bearer realm="${spec.realm}"`)
  if (spec.basic !== null) out.push(`Basic realm="${spec.realm}", charset="UTF-8"`)
  return out
}

/**
 * The subprotocol the server answers with: the client's first one that is neither a bearer token
 * nor one of `except`, or false for none. A token is never echoed back.
 */
export function selectProtocol (offered: ReadonlySet<string>, except: readonly string[] = []): string | false {
  for (const p of offered) if (!p.startsWith(BEARER_PROTOCOL_PREFIX) && !except.includes(p)) return p
  return false
}
