/** The port an origin of each scheme has when it names none. */
export const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' }

/** Scheme, host name and port (the default one when absent) of an origin, or undefined when it is not a URL with a host. */
export function parseOrigin (origin: string): { scheme: string, hostname: string, port: string } | undefined {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return undefined
  }
  if (url.hostname === '' || url.pathname.length > 1 || url.search !== '' || url.username !== '') return undefined
  return { scheme: url.protocol, hostname: url.hostname, port: url.port === '' ? DEFAULT_PORTS[url.protocol] ?? '' : url.port }
}

/** Whether `pattern` can be an entry of `origins`: `*`, `null`, or scheme://host[:port] with an optional `*.` host prefix. */
export function isOriginPattern (pattern: string): boolean {
  if (pattern === '*' || pattern === 'null') return true
  if (pattern.includes('*') && !/^[^*]+:\/\/\*\.[^*]+$/.test(pattern)) return false
  return parseOrigin(pattern.replace('://*.', '://wildcard.')) !== undefined && !pattern.endsWith('/')
}
