import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type WebSocket from 'ws'
import { assertRawWritable } from '../session/connection.js'
import { answerHeaders, answerProtocol } from '../session/streams.js'
import { UpgradeSockets } from './upgrade-sockets.js'

/** What the WebSocket plugin needs. */
export interface WebSocketOptions {
  /** The largest message any route accepts, in bytes (ws's limit is server-wide). */
  readonly maxPayload: number
  /** Closes every session (1001) before the WebSocket server closes; the upgrade sockets left are destroyed after it. */
  readonly closeAll: () => Promise<void>
}

/**
 * @fastify/websocket without compression (frames are written to the socket as built), with the
 * subprotocol answer of the route (and `Wsexec-Tty: true` from a `tty` route); ws's protocol
 * errors (1002, 1007, 1009) are only logged, as ws closes those connections itself. An upgrade
 * answered with plain HTTP ends its socket, and a close destroys the upgrade sockets still open
 * (see {@link UpgradeSockets}).
 */
async function registerWebSocket (app: FastifyInstance, { maxPayload, closeAll }: WebSocketOptions): Promise<void> {
  await app.register(websocket, {
    options: {
      maxPayload,
      perMessageDeflate: false,
      handleProtocols: answerProtocol
    },
    errorHandler (err: Error, _socket: WebSocket, request: FastifyRequest) {
      request.log.info({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'websocket error')
    },
    preClose: async () => {
      await closeAll()
      app.websocketServer.close()
      sockets.destroyAll()
    }
  })
  // After @fastify/websocket's 'upgrade' listener: see UpgradeSockets.
  const sockets = new UpgradeSockets(app.server)
  assertRawWritable(app.websocketServer)
  app.websocketServer.on('headers', answerHeaders)
}

/** {@link registerWebSocket} as a plugin that shares the server's scope. */
export const websocketPlugin = fp(registerWebSocket, { name: 'wsexec-websocket', fastify: '5.x' })
