import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { FastifyRequest } from 'fastify'
import type WebSocket from 'ws'
import type { Account } from '../config/accounts.js'
import type { Route } from '../config/load.js'
import type { Identity } from '../security/auth.js'
import { visibleRequest } from '../security/secrets.js'
import { untrustedIdentityHeaders } from '../security/trusted-header.js'
import { splitUrl } from '../url.js'
import { WsConnection } from './connection.js'
import { sessionEnvironment } from './env.js'
import { accountEnvironment, launchArgv } from './run-as.js'
import type { FastReceive } from './receive.js'
import type { ServedSession } from './served.js'
import { Session, type SessionSummary } from './session.js'
import { joinShared, SHARE_PROTOCOL, type SharedPrograms } from './shared.js'
import { streamsOf, type SessionStreams } from './streams.js'
import type { ProgramStarter } from '../spawner/pool.js'
import type { Lines } from './wire/lines.js'
import type { OutputBuffer } from './wire/output-buffer.js'

/** What the server learns about a session it did not start itself: it keeps the books. */
export interface SessionHooks {
  /** The session exists (before its process starts): it counts as running from now on. */
  opened (session: ServedSession): void
  /** The process started `seconds` after the upgrade. */
  started (route: string, seconds: number): void
  /** The session ended; `wasStarted` tells whether its process ever started. */
  ended (session: ServedSession, summary: SessionSummary, wasStarted: boolean): void
}

/** The shared gauges of a server, by route path (see `Metrics`). */
export interface SharedGauges {
  sharedProgram (route: string, delta: number): void
  sharedClient (route: string, delta: number): void
  inputDropped (route: string): void
}

/** A matched, admitted upgrade: everything a session is made of besides the connection. */
export interface SessionOrder {
  readonly route: Route
  /** The whole argv, parameters filled in; its first element is the route's command. */
  readonly argv: readonly string[]
  readonly params: Readonly<Record<string, string>>
  /** What follows the route's path on a `pathInfo` route; else empty. */
  readonly pathInfo: string
  /** Who the request authenticated as, if anyone. */
  readonly identity: Identity | undefined
  /** `user: "{REMOTE_USER}"`: the local account the session runs as. */
  readonly account?: Account | undefined
  /** The route's constant environment (see `routeEnvironment`). */
  readonly baseEnv: Readonly<Record<string, string>>
  /** True when the server speaks TLS (`HTTPS=on`). */
  readonly secure: boolean
  /** The server-wide ping interval for the watchdog, in ms (0: off). */
  readonly pingIntervalMs: number
  /** The server's line buffer, shared by its sessions (filled and emptied synchronously by one at a time). */
  readonly lines: Lines
  /** The server's client-frame fast path. */
  readonly fastReceive: FastReceive
  /** The server's reusable buffer for output frames. */
  readonly output: OutputBuffer
  /** The server's spawners; undefined: programs start in the server process (`spawners: 0`). */
  readonly starter: ProgramStarter | undefined
  /** The running programs of shared routes. */
  readonly shared: SharedPrograms
  /** Where shared routes count their programs, clients and dropped messages. */
  readonly gauges: SharedGauges
}

/**
 * Makes the session of an upgraded request and starts it: its id, the environment the program
 * sees (only the headers and query it may see), its argv, the watchdog on its limits, and the
 * hooks that keep the server's books. Never throws for the program's sake: a spawn failure is
 * the session's own close code.
 */
export function startSession (ws: WebSocket, request: FastifyRequest, order: SessionOrder, hooks: SessionHooks): ServedSession {
  const upgraded = performance.now()
  const { route } = order
  const raw = request.raw
  const socket = raw.socket as Socket
  const id = randomUUID()
  // The client's address, from X-Forwarded-For when the peer is a trusted proxy; none on a Unix socket.
  const remoteAddress = request.ip ?? ''
  const pathname = splitUrl(request.url).path
  const visible = visibleRequest(raw.headers, request.url, route.passHeaders, untrustedIdentityHeaders(route.auth, socket.remoteAddress))
  const environment = (): Record<string, string> => sessionEnvironment(order.baseEnv, route, {
    remoteAddress,
    remotePort: socket.remotePort ?? 0,
    serverPort: socket.localPort ?? 0,
    url: visible.url,
    pathname,
    pathInfo: order.pathInfo,
    headers: visible.headers,
    secure: order.secure,
    user: order.identity
  }, order.params, id)
  const account = route.containment.account ?? order.account
  const launch = launchArgv(route, order.argv.slice(1), account)
  // The account's HOME, USER and LOGNAME; the route's own env still wins.
  const programEnvironment = (): Record<string, string> => {
    const env = environment()
    if (account !== undefined) Object.assign(env, accountEnvironment(account), route.env)
    return env
  }
  const connection = new WsConnection(ws, socket, order.fastReceive)
  const streams = streamsOf(raw) as SessionStreams
  const watchdog = { idleTimeoutMs: route.idleTimeoutMs, maxLifetimeMs: route.maxLifetimeMs, pingIntervalMs: order.pingIntervalMs }
  // A route built by hand (tests) may have no share at all.
  const share = route.share ?? null
  if (share !== null) {
    const path = route.path
    return joinShared(order.shared, {
      id,
      route,
      share,
      requestPath: pathname,
      connection,
      remoteAddress,
      control: ws.protocol === SHARE_PROTOCOL,
      log: request.log,
      watchdog,
      program: () => ({ route, file: launch.file, args: launch.args, env: programEnvironment(), streams, lines: order.lines, starter: order.starter }),
      gauges: {
        program: (delta) => order.gauges.sharedProgram(path, delta),
        client: (delta) => order.gauges.sharedClient(path, delta),
        dropped: () => order.gauges.inputDropped(path)
      }
    }, hooks, upgraded)
  }
  let started = false
  const session = new Session({
    id,
    route,
    file: launch.file,
    args: launch.args,
    env: programEnvironment(),
    connection,
    log: request.log,
    remoteAddress,
    streams,
    requestPath: pathname,
    lines: order.lines,
    output: order.output,
    starter: order.starter,
    onStart () {
      started = true
      hooks.started(route.path, (performance.now() - upgraded) / 1000)
    },
    watchdog
  })
  hooks.opened(session)
  session.start()
  session.done.then((summary) => hooks.ended(session, summary, started), () => {})
  return session
}
