import { isIP } from 'node:net'

const NAME = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/

/**
 * The entry of `allowedHosts` as it is compared: lower-case, an IPv6 address in brackets; or
 * undefined when it is none of a host name, an IP address, `*.suffix` or `*` (a port is no part of it).
 */
export function hostPattern (entry: string): string | undefined {
  const e = entry.toLowerCase()
  if (e === '*') return e
  if (isIP(e) === 6) return `[${e}]`
  if (e.startsWith('[') && e.endsWith(']') && isIP(e.slice(1, -1)) === 6) return e
  return NAME.test(e) ? e : undefined
}
