import { DEFAULT_PORTS, parseOrigin } from '../config/origins.js'

/** What decides whether a browser origin may connect to a route. */
export interface OriginPolicy {
  /** Allowed origins (exact, `https://*.example.com`, `null` or `*`), or null for same-origin only. */
  readonly origins: readonly string[] | null
  /** Refuse requests that carry no Origin header (non-browser clients). */
  readonly requireOrigin: boolean
}

function sameOrigin (origin: string, host: string | undefined): boolean {
  const o = parseOrigin(origin)
  if (o === undefined || host === undefined) return false
  let h: URL
  try {
    h = new URL(`${o.scheme}//${host}`)
  } catch {
    return false
  }
  // A Host without a port means the origin's default port (a TLS proxy in front, say).
  const port = h.port === '' ? DEFAULT_PORTS[o.scheme] ?? '' : h.port
  return h.hostname === o.hostname && port === o.port && h.pathname.length <= 1
}

function matches (pattern: string, origin: string): boolean {
  if (pattern === '*') return true
  if (pattern === 'null' || origin === 'null') return pattern === origin
  const star = pattern.indexOf('://*.')
  if (star === -1) return pattern.toLowerCase() === origin.toLowerCase()
  const o = parseOrigin(origin)
  const p = parseOrigin(pattern.replace('://*.', '://wildcard.'))
  if (o === undefined || p === undefined) return false
  const suffix = `.${p.hostname.slice('wildcard.'.length)}`
  return o.scheme === p.scheme && o.port === p.port && o.hostname.endsWith(suffix) && o.hostname.length > suffix.length
}

/**
 * Whether a request with this `Origin` header (undefined when absent) and `Host` header may
 * connect. Same origin means the Origin's host and port equal the Host header's.
 */
export function originAllowed (policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return !policy.requireOrigin
  if (policy.origins === null) return sameOrigin(origin, host)
  return policy.origins.some((p) => matches(p, origin))
}
