import type { IncomingHttpHeaders } from 'node:http'
import { BEARER_PROTOCOL_PREFIX, TOKEN_QUERY_PARAMETER } from './auth.js'
import { splitUrl } from '../url.js'

/** Headers that carry secrets: the program gets them only when its route lists them in `passHeaders`. */
export const WITHHELD_HEADERS: readonly string[] = Object.freeze(['authorization', 'cookie'])

function isTokenParameter (pair: string): boolean {
  const name = pair.split('=')[0] as string
  try {
    return decodeURIComponent(name.replaceAll('+', ' ')) === TOKEN_QUERY_PARAMETER
  } catch {
    return false
  }
}

/** The request target without its `access_token` query parameter (`?` dropped when nothing is left). */
export function withoutToken (url: string): string {
  const { path, query } = splitUrl(url)
  if (query === undefined) return url
  const kept = query.split('&').filter((pair) => !isTokenParameter(pair))
  return kept.length === 0 ? path : `${path}?${kept.join('&')}`
}

/**
 * What of a request the program may see: the headers without `Authorization`, `Cookie` and
 * `bearer.` subprotocols, and the URL without `access_token`, except what `passHeaders`
 * (lower-case names, `access_token` for the query parameter) hands down; never the `hidden` ones
 * (lower-case: an identity header from a peer that is not trusted).
 */
export function visibleRequest (headers: IncomingHttpHeaders, url: string, passHeaders: readonly string[], hidden: readonly string[] = []): { headers: IncomingHttpHeaders, url: string } {
  const visible: IncomingHttpHeaders = { ...headers }
  for (const name of hidden) delete visible[name]
  for (const name of WITHHELD_HEADERS) if (!passHeaders.includes(name)) delete visible[name]
  const protocol = visible['sec-websocket-protocol']
  if (protocol !== undefined && !passHeaders.includes('authorization')) {
    const kept = protocol.split(',').map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith(BEARER_PROTOCOL_PREFIX))
    if (kept.length === 0) delete visible['sec-websocket-protocol']
    else visible['sec-websocket-protocol'] = kept.join(', ')
  }
  return { headers: visible, url: passHeaders.includes(TOKEN_QUERY_PARAMETER) ? url : withoutToken(url) }
}

/** Log redaction paths: secrets a log record might carry are written as `[Redacted]`. */
export const REDACT_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'req.query.access_token',
  'headers.authorization',
  'headers.cookie'
])
