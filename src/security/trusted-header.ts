import type { IncomingHttpHeaders } from 'node:http'
import { isIPv4 } from 'node:net'
import type { AuthSpec } from '../config/security.js'
import type { Identity } from './auth.js'

/** `AUTH_TYPE` of a user named by the proxy in front (`auth.header`). */
export const PROXY_AUTH_TYPE = 'Proxy'

/** True when the connection's peer (`socket.remoteAddress`, never X-Forwarded-For) is one of `trustProxy`. */
export function isTrustedPeer (spec: AuthSpec, peer: string | undefined): boolean {
  if (spec.header === null || peer === undefined) return false
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
  const mapped = peer.startsWith('::ffff:') ? peer.slice(7) : peer
  return isIPv4(mapped) ? spec.header.trusted.check(mapped, 'ipv4') : spec.header.trusted.check(peer, 'ipv6')
}

function single (value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(',') : value ?? '').trim()
}

/**
 * The user the proxy in front names in `auth.header` (with the groups of its groups header),
 * when the request comes from a trusted peer and carries it; else undefined.
 */
export function headerIdentity (spec: AuthSpec, headers: IncomingHttpHeaders, peer: string | undefined): Identity | undefined {
  const header = spec.header
  if (header === null || !isTrustedPeer(spec, peer)) return undefined
  const name = single(headers[header.name])
  if (name === '') return undefined
  const groups = header.groups === undefined ? [] : single(headers[header.groups]).split(',').map((g) => g.trim()).filter((g) => g !== '')
  return { name, type: PROXY_AUTH_TYPE, groups }
}

/** The identity headers the program must not see: `auth.header`'s, unless the peer is trusted. */
export function untrustedIdentityHeaders (spec: AuthSpec | null, peer: string | undefined): string[] {
  if (spec?.header == null || isTrustedPeer(spec, peer)) return []
  return spec.header.groups === undefined ? [spec.header.name] : [spec.header.name, spec.header.groups]
}

/** True when `identity` may use a route with these allow-lists (null: no list): its name in `users`, or one of its groups in `groups`. */
export function allowedBy (users: readonly string[] | null, groups: readonly string[] | null, identity: Identity): boolean {
  if (users === null && groups === null) return true
  if (users?.includes(identity.name) === true) return true
  return groups !== null && (identity.groups ?? []).some((g) => groups.includes(g))
}
