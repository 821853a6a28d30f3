import type { IncomingMessage } from 'node:http'
import type { FastifyError } from 'fastify'
import type { Route } from '../config/load.js'
import { errors } from '../errors.js'
import { selectProtocol } from '../security/auth.js'
import { splitUrl } from '../url.js'

/** The Kubernetes exec channel subprotocols wsexec speaks, newest first. */
export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'] as const

/** A Kubernetes exec channel subprotocol. */
export type ChannelProtocol = typeof CHANNEL_PROTOCOLS[number]

/** Largest terminal side accepted from `?cols=&rows=` (the kernel's `winsize` holds 16 bits). */
export const MAX_TTY_SIDE = 65535

/** Largest terminal side a client gets, in columns or rows (query, resize message, channel 4): a larger one is lowered to it. */
export const TTY_SIDE_CAP = 1000

/** A terminal side from a client, at most {@link TTY_SIDE_CAP}: a huge terminal costs programs (and their screens) memory. */
export function capSide (n: number): number {
  return Math.min(n, TTY_SIDE_CAP)
}

/** The streams of one session, settled before the upgrade from the route, the offered subprotocols and the query. */
export interface SessionStreams {
  /** The channel subprotocol, or null for wsexec's plain framing. */
  readonly channel: ChannelProtocol | null
  /** False: the program's stdin is ended at once (channel sessions without `stdin=true`). */
  readonly stdin: boolean
  /** False: the stream is read and discarded (channel sessions without `stdout=true` / `stderr=true`). */
  readonly stdout: boolean
  readonly stderr: boolean
  /** tty routes: the terminal's size at the start. */
  readonly size: Readonly<{ cols: number, rows: number }>
}

/**
 * What a session does with the program's stderr: `frames` (its own pipe, sent to the client:
 * tagged or on channel 2), `stdout` (`merge`: the same pipe as stdout, `2>&1`, so the order is the
 * program's), `log`, or `none` (discarded, or merged by a terminal).
 */
export function stderrUse (route: Route, streams: SessionStreams): 'frames' | 'stdout' | 'log' | 'none' {
  if (route.tty) return 'none'
  if (streams.channel !== null) return 'frames'
  if (route.stderr === 'merge') return 'stdout'
  if (route.stderr === 'tagged') return 'frames'
  return route.stderr === 'log' ? 'log' : 'none'
}

/** Splits a `Sec-WebSocket-Protocol` header into its entries. */
export function offeredProtocols (header: string | undefined): string[] {
  return (header ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')
}

/**
 * A query flag as the Kubernetes API server reads it: absent is false, `0` and `false` (any case)
 * are false, any other value (`true`, `1`, empty) is true.
 */
export function queryFlag (query: URLSearchParams, name: string): boolean {
  const value = query.get(name)
  return value !== null && value !== '0' && value.toLowerCase() !== 'false'
}

function side (query: URLSearchParams, name: string): number | undefined | false {
  const value = query.get(name)
  if (value === null) return undefined
  const n = Number(value)
  return /^[0-9]+$/.test(value) && n >= 1 && n <= MAX_TTY_SIDE ? capSide(n) : false
}

/**
 * Settles a session's streams: the first offered subprotocol the route speaks wins (`plain` when
 * none does and the route allows it); on channel sessions the query's `stdin`, `stdout`, `stderr`
 * and `tty` flags apply as in Kubernetes; `cols` and `rows` size a tty route's terminal.
 * Returns the 400 error to answer with when the request cannot be served.
 */
export function negotiateStreams (route: Route, offered: readonly string[], url: string): SessionStreams | FastifyError {
  const query = new URLSearchParams(splitUrl(url).query ?? '')
  const channel = offered.find((p): p is ChannelProtocol => (CHANNEL_PROTOCOLS as readonly string[]).includes(p) && (route.protocols as readonly string[]).includes(p)) ?? null
  if (channel === null && !route.protocols.includes('plain')) return new errors.PROTOCOL_NOT_SUPPORTED(route.path, route.protocols.join(', '))
  const cols = side(query, 'cols')
  const rows = side(query, 'rows')
  if (cols === false || rows === false) return new errors.BAD_STREAM_OPTIONS(`cols and rows must be whole numbers from 1 to ${MAX_TTY_SIDE}`)
  const size = { cols: cols ?? route.ttySize.cols, rows: rows ?? route.ttySize.rows }
  if (channel === null) return { channel, stdin: true, stdout: true, stderr: true, size }
  const streams = { channel, stdin: queryFlag(query, 'stdin'), stdout: queryFlag(query, 'stdout'), stderr: queryFlag(query, 'stderr'), size }
  if (!streams.stdin && !streams.stdout && !streams.stderr) return new errors.BAD_STREAM_OPTIONS('you must specify at least 1 of stdin, stdout, stderr')
  if (queryFlag(query, 'tty') && !route.tty) return new errors.BAD_STREAM_OPTIONS(`tty=true needs a route with tty: true (${route.path} has none)`)
  return streams
}

/** The streams settled for each upgrade request, read back when ws asks which subprotocol to answer with. */
const settled = new WeakMap<IncomingMessage, SessionStreams>()

/** The upgrade requests of `tty` routes, whose 101 answer carries {@link TERMINAL_HEADER}. */
const terminals = new WeakSet<IncomingMessage>()

/**
 * The header (value `true`) in the 101 answer of a `tty` route's upgrade: tells a client such as
 * `wsexec connect` that its input is typed on a terminal (Enter is `\r`, end of input Ctrl-D).
 */
export const TERMINAL_HEADER = 'Wsexec-Tty'

/** Keeps `streams` for the upgrade of `request`; `terminal` for a `tty` route's. */
export function rememberStreams (request: IncomingMessage, streams: SessionStreams, terminal: boolean): void {
  settled.set(request, streams)
  if (terminal) terminals.add(request)
}

/** Adds {@link TERMINAL_HEADER} to the 101 answer of a `tty` route's upgrade (ws's `headers` event). */
export function answerHeaders (headers: string[], request: IncomingMessage): void {
  if (terminals.has(request)) headers.push(`${TERMINAL_HEADER}: true`)
}

/** The streams kept for `request`, if any. */
export function streamsOf (request: IncomingMessage): SessionStreams | undefined {
  return settled.get(request)
}

/**
 * The subprotocol to answer an upgrade with (ws's `handleProtocols`): the channel protocol settled
 * for it, or else the client's first offer that is neither a bearer token nor a channel protocol
 * (a plain session never claims to speak channels), or false for none.
 */
export function answerProtocol (offered: ReadonlySet<string>, request: IncomingMessage): string | false {
  // Every upgrade that reaches ws had its streams settled in the route's onRequest hook.
  return (settled.get(request) as SessionStreams).channel ?? selectProtocol(offered, CHANNEL_PROTOCOLS)
}
