import type { Server, Socket } from 'node:net'
import { errors, RETRY_AFTER_SECONDS } from '../errors.js'

/** The answer of a connection over the cap: a complete HTTP response, written before any request is read. */
function answer (): Buffer {
  const err = new errors.TOO_MANY_CONNECTIONS()
  const body = JSON.stringify({ statusCode: err.statusCode, code: err.code, error: 'Service Unavailable', message: err.message })
  return Buffer.from(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: ${RETRY_AFTER_SECONDS}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

/**
 * The cap of open connections of one server: a connection over `max` is answered 503
 * WSEXEC_ERR_TOO_MANY_CONNECTIONS and closed as it arrives, never handed to HTTP (over TLS it is
 * only closed: a plain answer would be garbage there). Its descriptor is given back at once,
 * within the accept, so that a burst of connections never holds more than the cap (Node's own
 * `server.maxConnections` would close them without an answer).
 */
export class ConnectionCap {
  readonly #server: Server
  readonly #plain: boolean
  readonly #refused: () => void
  readonly #answer = answer()
  #max = Infinity
  #open = 0

  /** Caps `server` (plain HTTP unless `tls`); `refused` counts each connection refused. */
  constructor (server: Server, tls: boolean, refused: () => void) {
    this.#server = server
    this.#plain = !tls
    this.#refused = refused
    const emit = server.emit.bind(server)
    // Before HTTP's own listener sees it, and whoever else listens: a refused connection reaches none.
    server.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
      if (event !== 'connection') return emit(event, ...args)
      const socket = args[0] as Socket
      if (this.#open >= this.#max) {
        this.#refuse(socket)
        return true
      }
      this.#open++
      socket.once('close', () => { this.#open-- })
      return emit(event, ...args)
    }) as Server['emit']
  }

  /** Connections served now (not those being refused). */
  get open (): number {
    return this.#open
  }

  /** The connections served at once (Infinity: no cap). */
  get max (): number {
    return this.#max
  }

  /** A new cap (a reload): applies to the connections that follow. */
  set max (max: number) {
    this.#max = max
  }

  #refuse (socket: Socket): void {
    this.#refused()
    socket.on('error', () => {})
    // A fresh socket's write goes to the kernel within the call (libuv tries it at once), and the
    // close follows it: the client reads the answer before the reset its unread request causes.
    if (this.#plain) socket.write(this.#answer)
    socket.destroy()
  }
}
