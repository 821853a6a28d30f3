import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type WebSocket from 'ws'
import { assertRawWritable } from '../session/connection.js'
import { answerHeaders, answerProtocol } from '../session/streams.js'

/** What the WebSocket plugin needs. */
export interface WebSocketOptions {
  /** The largest message any route accepts, in bytes (ws's limit is server-wide). */
  readonly maxPayload: number
  /** Closes every session (1001) before the WebSocket server closes. */
  readonly closeAll: () => Promise<void>
}

/**
 * @fastify/websocket without compression (frames are written to the socket as built), with the
 * subprotocol answer of the route (and `Wsexec-Tty: true` from a `tty` route); ws's protocol errors (1002, 1007, 1009) are only logged, as
 * ws closes those connections itself.
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
    }
  })
  assertRawWritable(app.websocketServer)
  app.websocketServer.on('headers', answerHeaders)
}

/** {@link registerWebSocket} as a plugin that shares the server's scope. */
export const websocketPlugin = fp(registerWebSocket, { name: 'wsexec-websocket', fastify: '5.x' })
