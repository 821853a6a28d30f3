import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { LoadedConfig } from '../config/model.js'
import { endpointGuard, plainOnly } from './guards.js'
import type { ServerState } from './state.js'

/** What the operations plugin needs. */
export interface OperationsOptions {
  readonly state: ServerState
  /** The configuration the server was built with: the endpoints' paths are restart settings. */
  readonly config: LoadedConfig
  /** The server for metrics on their own port, when `metrics.port` is set. */
  readonly metricsServer: FastifyInstance | undefined
}

/**
 * Health (`health.live`: always ok), readiness (`health.ready`: 503 while draining) and the
 * Prometheus metrics (on the main port behind the top level's auth, or on their own port).
 */
async function operations (app: FastifyInstance, { state, config, metricsServer }: OperationsOptions): Promise<void> {
  const plain = plainOnly(state)
  app.get(config.health.live, { onRequest: plain }, async () => ({ status: 'ok' }))
  app.get(config.health.ready, { onRequest: plain }, async (_request, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining' })
    return { status: 'ready', sessions: state.sessions.size }
  })
  if (!config.metrics.enabled) return
  const target = metricsServer ?? app
  target.get(config.metrics.path, { onRequest: metricsServer === undefined ? [plain, endpointGuard(state)] : plain }, async (_request, reply) => {
    reply.type(state.metrics.registry.contentType)
    return state.metrics.registry.metrics()
  })
}

/** {@link operations} as a plugin that shares the server's scope. */
export const operationsPlugin = fp(operations, { name: 'wsexec-operations', fastify: '5.x' })
