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
 * address, whatever the server listens on (a rebinding page always runs on the victim's own
 * machine), with that address itself (`127.0.0.2`: an address typed by the user is no rebound
 * name), else any.
 */
export function hostsFor (allowedHosts: readonly string[] | null, localAddress: string | undefined): readonly string[] {
  if (allowedHosts !== null) return allowedHosts
  if (localAddress === undefined) return LOOPBACK_HOSTS
  if (!isLoopback(localAddress)) return ANY
  const own = hostPattern(localAddress.replace(/^::ffff:/i, '')) as string
  return LOOPBACK_HOSTS.includes(own) ? LOOPBACK_HOSTS : [...LOOPBACK_HOSTS, own]
}

const ANY: readonly string[] = Object.freeze(['*'])

/** Whether `host` (a `listen.host`) is every address: `0.0.0.0`, `::` or `[::]`. */
export function isWildcard (host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}

/**
 * The start-up warning for a server listening on every address without `allowedHosts` (any
 * `Host` is served on its network addresses), with the configuration line to add; else undefined.
 */
export function wildcardWarning (listenHost: string, allowedHosts: readonly string[] | null, machine: string): { msg: string, add: string } | undefined {
  if (allowedHosts !== null || !isWildcard(listenHost)) return undefined
  const add = `allowedHosts: [${JSON.stringify(machine.toLowerCase())}]`
  return { add, msg: `listening on ${listenHost} without allowedHosts: any Host is served on network addresses (DNS rebinding); add the names clients use, such as ${add}` }
}
