import { BlockList, isIP } from 'node:net'
import { resolve } from 'node:path'
import type { ConfigProblem } from '../errors.js'
import { hostPattern } from './hosts.js'
import { isOriginPattern } from './origins.js'
import { toMs } from './duration.js'
import type { Position } from './positions.js'
import { SECURITY_DEFAULTS, type AuthInput, type RouteSecurityInput, type ServerSecurityInput } from './security-schema.js'

/** The accounts of an {@link AuthSpec}, as `loadConfig` reads them from its files (see `LoadedAuth`). */
export interface Credentials {
  /** SHA-256 digests of the accepted bearer tokens, with the name each one authenticates. */
  readonly tokens: ReadonlyArray<{ readonly name: string, readonly digest: Buffer }>
  /** bcrypt hashes by user name. */
  readonly users: ReadonlyMap<string, string>
  /** A hash of the users' cost, compared when the user is unknown so timing tells nothing. */
  readonly dummyHash: string
}

/** A normalised `auth` block, files absolute; `loadConfig` adds its accounts (`LoadedAuth`). */
export type AuthSpec = Readonly<{
  realm: string
  /** Failed authentications from one client address within `failureWindowMs` before it gets 429; 0 for no limit. */
  maxFailures: number
  failureWindowMs: number
  bearer: Readonly<{ tokensFile: string | undefined, tokensEnv: string | undefined }> | null
  basic: Readonly<{ usersFile: string }> | null
  /** The identity header and its groups header, lower-case, with the peers it is believed from. */
  header: Readonly<{ name: string, groups: string | undefined, trusted: BlockList }> | null
  /** The dotted key of the block, such as `routes./sh.auth`, and where it is written. */
  key: string
  at: Position
}>

/** A normalised `tls` block, files absolute; `loadConfig` adds what they hold (`LoadedTls`). */
export type TlsSpec = Readonly<{
  cert: string
  key: string
  ca: string | undefined
  at: Position
}>

/** A route's security settings after normalisation (the top level's where the route has none). */
export type RouteSecurity = Readonly<{
  /** Allowed origins, or null for same-origin only. */
  origins: readonly string[] | null
  requireOrigin: boolean
  auth: AuthSpec | null
  /** Authenticated users allowed, or null for any (see `groups`). */
  users: readonly string[] | null
  /** Groups whose members are allowed, or null for any. */
  groups: readonly string[] | null
  /** Lower-case names of withheld secrets handed down anyway. */
  passHeaders: readonly string[]
  /** Sessions of this route at once; 0 for no route limit. */
  maxSessions: number
  /** Sessions of this route from one client at once; 0 for no route limit. */
  maxSessionsPerClient: number
  maxMessageBytes: number
  idleTimeoutMs: number
  maxLifetimeMs: number
}>

/** Server-wide security settings. */
export type ServerSecurity = Readonly<{
  tls: TlsSpec | null
  /** `Host` patterns served (normalised by `hostPattern`), or null for the default of the listen address. */
  allowedHosts: readonly string[] | null
  /** Proxies whose X-Forwarded-For is believed, or null to ignore the header. */
  trustProxy: readonly string[] | null
  pingIntervalMs: number
  handshakeTimeoutMs: number
  maxHeaderBytes: number
  /** Sessions at once server-wide; 0 for no limit. */
  maxSessions: number
  maxSessionsPerClient: number
  /** Open connections at once (`server.maxConnections`); Infinity for no limit. */
  maxConnections: number
  /** How long an idle keep-alive HTTP connection stays open. */
  keepAliveTimeoutMs: number
}>

type Problem = (path: readonly string[], message: string, key?: boolean) => ConfigProblem
type Where = (path: readonly string[]) => Position

/** Security rules a schema cannot express, for the top level (`path` empty) or one route (`trustProxy`: the top level's). */
export function checkSecurity (input: RouteSecurityInput & ServerSecurityInput, at: readonly string[], problem: Problem, trustProxy = input.trustProxy): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const [i, origin] of (input.origins ?? []).entries()) {
    if (!isOriginPattern(origin)) {
      out.push(problem([...at, 'origins', String(i)], `${JSON.stringify(origin)} is not an origin (scheme://host[:port], *.host, null or *)`))
    }
  }
  const bearer = input.auth === false ? undefined : input.auth?.bearer
  if (bearer?.tokensFile !== undefined && bearer.tokensEnv !== undefined) {
    out.push(problem([...at, 'auth', 'bearer'], 'give tokensFile or tokensEnv, not both'))
  }
  const header = input.auth === false ? undefined : input.auth?.header
  if (header !== undefined && trustProxy === undefined) {
    out.push(problem([...at, 'auth', 'header'], 'needs trustProxy: the header is believed from those proxies only'))
  }
  for (const [i, host] of (input.allowedHosts ?? []).entries()) {
    if (hostPattern(host) === undefined) out.push(problem([...at, 'allowedHosts', String(i)], `${JSON.stringify(host)} is not a host name, an IP address, *.suffix or * (without a port)`))
  }
  for (const [i, address] of (input.trustProxy ?? []).entries()) {
    if (!isAddressOrRange(address)) out.push(problem([...at, 'trustProxy', String(i)], `${JSON.stringify(address)} is not an IP address or CIDR range`))
  }
  // Node reads 0 as "never": an idle connection would hold its descriptor for good.
  if (input.keepAliveTimeout !== undefined && toMs(input.keepAliveTimeout) === 0) {
    out.push(problem([...at, 'keepAliveTimeout'], 'must be more than 0 (0 would keep idle connections open forever)'))
  }
  return out
}

/** The default connection cap: twice the sessions, so that clients over the session limit still get their 503; none without a session limit. */
function connectionsFor (maxSessions: number): number {
  return maxSessions === 0 ? Infinity : 2 * maxSessions
}

function isAddressOrRange (text: string): boolean {
  const [address, bits, extra] = text.split('/')
  const version = isIP(address as string)
  if (version === 0 || extra !== undefined) return false
  if (bits === undefined) return true
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)
}

/** The peers `trustProxy` names, as a BlockList (IPv4-mapped IPv6 peers are checked as IPv4 by `isTrustedPeer`). */
function trustedPeers (trustProxy: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of trustProxy) {
    const [address, bits] = entry.split('/') as [string, string | undefined]
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return list
}

function authSpec (auth: AuthInput, key: readonly string[], baseDir: string, where: Where, trustProxy: readonly string[]): AuthSpec {
  return Object.freeze({
    realm: auth.realm ?? SECURITY_DEFAULTS.realm,
    maxFailures: auth.maxFailures ?? SECURITY_DEFAULTS.maxFailures,
    failureWindowMs: toMs(auth.failureWindow ?? SECURITY_DEFAULTS.failureWindow),
    bearer: auth.bearer === undefined
      ? null
      : Object.freeze({
        tokensFile: auth.bearer.tokensFile === undefined ? undefined : resolve(baseDir, auth.bearer.tokensFile),
        tokensEnv: auth.bearer.tokensEnv
      }),
    basic: auth.basic === undefined ? null : Object.freeze({ usersFile: resolve(baseDir, auth.basic.usersFile) }),
    header: auth.header === undefined
      ? null
      : Object.freeze({ name: auth.header.name.toLowerCase(), groups: auth.header.groups?.toLowerCase(), trusted: trustedPeers(trustProxy) }),
    key: key.join('.'),
    at: where(key)
  })
}

/** The top level's security settings, normalised; relative files resolve against `baseDir`. */
export function serverSecurity (input: ServerSecurityInput, baseDir: string, where: Where): ServerSecurity {
  const tls = input.tls
  return Object.freeze({
    tls: tls === undefined
      ? null
      : Object.freeze({
        cert: resolve(baseDir, tls.cert),
        key: resolve(baseDir, tls.key),
        ca: tls.ca === undefined ? undefined : resolve(baseDir, tls.ca),
        at: where(['tls'])
      }),
    allowedHosts: input.allowedHosts === undefined ? null : Object.freeze(input.allowedHosts.map((h) => hostPattern(h) as string)),
    trustProxy: input.trustProxy === undefined ? null : Object.freeze([...input.trustProxy]),
    pingIntervalMs: toMs(input.pingInterval ?? SECURITY_DEFAULTS.pingInterval),
    handshakeTimeoutMs: toMs(input.handshakeTimeout ?? SECURITY_DEFAULTS.handshakeTimeout),
    maxHeaderBytes: input.maxHeaderBytes ?? SECURITY_DEFAULTS.maxHeaderBytes,
    maxSessions: input.maxSessions ?? SECURITY_DEFAULTS.maxSessions,
    maxSessionsPerClient: input.maxSessionsPerClient ?? SECURITY_DEFAULTS.maxSessionsPerClient,
    maxConnections: input.maxConnections ?? connectionsFor(input.maxSessions ?? SECURITY_DEFAULTS.maxSessions),
    keepAliveTimeoutMs: toMs(input.keepAliveTimeout ?? SECURITY_DEFAULTS.keepAliveTimeout)
  })
}

/**
 * A route's security settings: its own, else the top level's (`server`), else the defaults.
 * `defaultAuth` is the top level's normalised auth, shared by the routes that inherit it.
 */
export function routeSecurity (route: RouteSecurityInput, path: string, server: ServerSecurityInput, defaultAuth: AuthSpec | null, baseDir: string, where: Where): RouteSecurity {
  const auth = route.auth === undefined ? defaultAuth : route.auth === false ? null : authSpec(route.auth, ['routes', path, 'auth'], baseDir, where, server.trustProxy ?? [])
  return {
    origins: route.origins ?? server.origins ?? null,
    requireOrigin: route.requireOrigin ?? server.requireOrigin ?? SECURITY_DEFAULTS.requireOrigin,
    auth,
    users: route.users === undefined ? null : Object.freeze([...route.users]),
    groups: route.groups === undefined ? null : Object.freeze([...route.groups]),
    passHeaders: Object.freeze((route.passHeaders ?? []).map((h) => h.toLowerCase())),
    maxSessions: route.maxSessions ?? 0,
    maxSessionsPerClient: route.maxSessionsPerClient ?? 0,
    maxMessageBytes: route.maxMessageBytes ?? server.maxMessageBytes ?? SECURITY_DEFAULTS.maxMessageBytes,
    idleTimeoutMs: toMs(route.idleTimeout ?? server.idleTimeout ?? SECURITY_DEFAULTS.idleTimeout),
    maxLifetimeMs: toMs(route.maxLifetime ?? server.maxLifetime ?? SECURITY_DEFAULTS.maxLifetime)
  }
}

/** The top level's `auth`, normalised, or null when there is none. */
export function defaultAuth (server: ServerSecurityInput, baseDir: string, where: Where): AuthSpec | null {
  return server.auth === undefined || server.auth === false ? null : authSpec(server.auth, ['auth'], baseDir, where, server.trustProxy ?? [])
}
