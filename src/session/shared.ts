import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { Route, SharePolicy } from '../config/model.js'
import { Attachment } from './attachment.js'
import type { Connection } from './connection.js'
import { Hub } from './hub.js'
import type { ProgramSpec } from './program.js'
import type { SessionHooks } from './assemble.js'
import type { WatchdogLimits } from './watchdog.js'

/**
 * The subprotocol a client of a shared route offers to be told, in a first text message
 * `{"share":{"input":"none"|"first"|"all","write":true|false}}`, whether its messages reach the
 * program (so that a viewer can show "read-only"); every later message is the program's.
 */
export const SHARE_PROTOCOL = 'wsexec.share.v1'

/** The running programs of a server's shared routes, by route and URL path (see {@link sharedKey}). */
export type SharedPrograms = Map<string, Hub>

/** The registry key of a shared program: the route's path and the URL path (`/logs/:app` and `/logs/api`). */
export function sharedKey (route: Route, requestPath: string): string {
  return `${route.path}\n${requestPath}`
}

/** One client of a shared route, as the upgrade makes it. */
export interface SharedJoin {
  readonly id: string
  readonly route: Route
  readonly share: SharePolicy
  readonly requestPath: string
  readonly connection: Connection
  readonly remoteAddress: string
  /** True when the client selected {@link SHARE_PROTOCOL}: it gets the share control message first. */
  readonly control: boolean
  readonly log: FastifyBaseLogger
  readonly watchdog: WatchdogLimits
  /** The program's spec, made only when this client starts it (its environment is this client's). */
  readonly program: () => ProgramSpec
  /** The shared gauges: a program and a client more (1) or less (-1), a dropped message. */
  readonly gauges: { program (delta: number): void, client (delta: number): void, dropped (): void }
}

/**
 * Attaches a client of a shared route to the program of its route and URL path, starting that
 * program (with this client's environment) when none runs or the one running is ending, or
 * belongs to the route as it was before a reload. Returns the client, counted as a session.
 */
export function joinShared (programs: SharedPrograms, join: SharedJoin, hooks: SessionHooks, upgraded: number): Attachment {
  const key = sharedKey(join.route, join.requestPath)
  let hub = programs.get(key)
  if (hub === undefined || hub.closed || hub.route !== join.route) {
    const created: Hub = new Hub({
      program: join.program(),
      share: join.share,
      log: join.log,
      requestPath: join.requestPath,
      watchdog: join.watchdog,
      hooks: {
        started: (client) => hooks.started(join.route.path, (performance.now() - Math.max(upgraded, client.joined)) / 1000),
        ended: (client, summary, started) => hooks.ended(client, summary, started),
        closed: () => { if (programs.get(key) === created) programs.delete(key) },
        sharedClient: join.gauges.client,
        sharedProgram: join.gauges.program,
        inputDropped: join.gauges.dropped
      }
    })
    hub = created
    programs.set(key, hub)
    hub.start()
  }
  const client = new Attachment(join.id, join.route, join.connection, join.remoteAddress, hub, join.control)
  hooks.opened(client)
  hub.attach(client)
  return client
}
