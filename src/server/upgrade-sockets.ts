import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import type { ServerState } from './state.js'

/** The response Node's `ServerResponse.assignSocket()` ties to a socket (as @fastify/websocket does for an upgrade). */
interface AnsweredSocket extends Duplex {
  _httpMessage?: ServerResponse
}

/** Ends a socket once what was written to it has gone out, then frees it: a client that never closes its side does not hold it. */
function endSocket (socket: Duplex): void {
  socket.end(() => socket.destroy())
}

/**
 * Every socket that arrived with an upgrade request, until it closes. Node's HTTP server lets
 * go of such a socket (no keep-alive timer, no `closeAllConnections()`), and a response that
 * fastify writes without running the hooks (a path whose `%` escape does not decode, the 503
 * while closing) leaves it open for good, where @fastify/websocket ends the others in its
 * `onResponse` hook. So a plain answer on an upgrade socket ends it here, and a close ends
 * whatever is still open. Attach after @fastify/websocket's own 'upgrade' listener.
 */
export class UpgradeSockets {
  readonly #open = new Set<Duplex>()

  constructor (server: Server) {
    server.on('upgrade', (_request: IncomingMessage, socket: AnsweredSocket) => {
      this.#open.add(socket)
      socket.once('close', () => this.#open.delete(socket))
      // @fastify/websocket routed the request synchronously: it has been answered (a response
      // finishes only once the socket took its bytes, so not yet), or is being checked (hooks), or
      // was handed to ws, which writes the 101 on the socket itself, not through this response.
      socket._httpMessage?.once('finish', () => endSocket(socket))
    })
  }

  /** How many upgrade sockets are open (answered, checked or carrying a session). */
  get size (): number {
    return this.#open.size
  }

  /** Destroys every upgrade socket still open: after the sessions are closed, nothing on them is waited for. */
  destroyAll (): void {
    for (const socket of this.#open) socket.destroy()
  }
}

/**
 * fastify's `frameworkErrors`: what it answers before any hook (a path whose `%` escape does not
 * decode) becomes a counted, logged refusal with `Connection: close`, so that a plain request's
 * socket ends too; an upgrade's is ended by {@link UpgradeSockets}.
 */
export function frameworkErrors (state: ServerState): (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (err, request, reply) => {
    request.log.info({ status: 400, code: err.code, path: request.url, remote: request.socket.remoteAddress, upgrade: request.headers.upgrade !== undefined }, 'request refused')
    state.refuse(reply.header('connection', 'close'), new errors.BAD_URL())
  }
}
