import { hostPattern } from '../config/hosts.js'

/** The `Host` names a server reached on a loopback address or a Unix socket accepts by default. */
export const LOOPBACK_HOSTS: readonly string[] = Object.freeze(['localhost', '*.localhost', '127.0.0.1', '[::1]'])

/** The name of a `Host` header, lower-case, without its port and trailing dot (`[::1]` keeps its brackets). */
function hostName (host: string): string {
  const h = host.toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const name = h.split(':')[0] as string
  return name.endsWith('.') ? name.slice(0, -1) : name
}

/**
 * Whether a request with this `Host` header (undefined when absent) may be served under
 * `patterns` (normalised by {@link hostPattern}): a name equal to one of them, or ending in the
 * `.suffix` of a `*.suffix`; `*` allows any Host. Ports are ignored.
 */
export function hostAllowed (patterns: readonly string[], host: string | undefined): boolean {
  if (patterns.includes('*')) return true
  if (host === undefined) return false
  const name = hostName(host)
  return patterns.some((p) => p.startsWith('*.') ? name.endsWith(p.slice(1)) && name.length > p.length - 1 : p === name)
}

/** Whether `address` is an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x). */
export function isLoopback (address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\.[0-9.]+$/i.test(address)
}

/**
 * The `Host` patterns of a request: `allowedHosts` when configured, else {@link LOOPBACK_HOSTS}
 * for a connection that came over a Unix socket (`localAddress` undefined) or to a loopback
 * address of a server that does not listen on every address (`listenHost` 0.0.0.0 or ::), with
 * that address itself (`127.0.0.2`: an address typed by the user is no rebound name), else any.
 */
export function hostsFor (allowedHosts: readonly string[] | null, localAddress: string | undefined, listenHost: string): readonly string[] {
  if (allowedHosts !== null) return allowedHosts
  if (localAddress === undefined) return LOOPBACK_HOSTS
  const everywhere = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '[::]'
  if (!isLoopback(localAddress) || everywhere) return ANY
  const own = hostPattern(localAddress.replace(/^::ffff:/i, '')) as string
  return LOOPBACK_HOSTS.includes(own) ? LOOPBACK_HOSTS : [...LOOPBACK_HOSTS, own]
}

const ANY: readonly string[] = Object.freeze(['*'])
