import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { registerBrowser } from '../browser/plugin.js'
import type { LoadedConfig } from '../config/model.js'
import { operationsPlugin } from './operations.js'
import { reloader } from './reload.js'
import { drainer } from './shutdown.js'
import { largestMessage, ServerState, type WsexecState } from './state.js'
import { createServers, httpPlugin } from './transport.js'
import { upgradePlugin } from './upgrade.js'
import type { ServedSession } from '../session/served.js'
import type { Session } from '../session/session.js'
import { websocketPlugin } from './websocket.js'

export type { WsexecState } from './state.js'

/** What {@link buildServer} needs besides the configuration. */
export interface ServerOptions {
  readonly logger: FastifyBaseLogger
  /** The server's environment, from which routes' `passEnv` variables are taken. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * A fastify server that serves the configuration's routes over WebSocket, with health,
 * readiness and Prometheus metrics endpoints. It never listens: call `listen()`. Closing it ends
 * every session with 1001 and terminates their processes; `app.wsexec.drain()` first lets them finish.
 *
 * It is composed of plugins that share one {@link ServerState}: WebSocket registration, the
 * HTTP hooks (Host check, refusal log, extra headers), the browser files, the operations
 * endpoints and the upgrade route, which hands admitted upgrades to `session/assemble`.
 */
export async function buildServer (config: LoadedConfig, options: ServerOptions): Promise<FastifyInstance> {
  const state = new ServerState(config, options.env ?? {}, options.logger)
  const { app, metricsServer } = createServers(config, options.logger, state)
  const { drain, closeAll, kill } = drainer(state, app.log)
  const reload = reloader(app, state, config)
  const exposed: WsexecState = {
    sessions: state.sessions as ReadonlySet<ServedSession> as ReadonlySet<Session>,
    metrics: state.metrics,
    metricsServer,
    drain,
    kill,
    reload,
    get config () { return state.routing.config },
    get draining () { return state.draining }
  }
  app.decorate('wsexec', exposed)
  app.decorateRequest('wsexecMatch', null)
  app.decorateRequest('wsexecPass', null)
  // The session code loads once the server listens, while no client waits for it yet.
  app.addHook('onListen', (done) => {
    state.loadSessions().then(() => done(), done)
  })
  // After preClose has closed the sessions: the spawners end with the server.
  app.addHook('onClose', async () => state.closeSpawners())

  await app.register(websocketPlugin, { maxPayload: largestMessage(config), closeAll })
  await app.register(httpPlugin, { state })
  const browser = await registerBrowser(app, config)
  await app.register(operationsPlugin, { state, config, metricsServer })
  await app.register(upgradePlugin, { state, browser, console: config.console, secure: config.security.tls !== null })
  return app
}
