import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import WebSocket, { type WebSocketServer } from 'ws'
import { closeForProtocolError, type Close } from '../close-codes.js'
import type { FastReceive } from './receive.js'
import { watch, type Watched, type WatchdogLimits } from './watchdog.js'

/** Bytes of frames the server lets wait in the socket before it stops reading the program's output. */
export const OUTPUT_HIGH_WATER_BYTES = 256 * 1024

/** What a connection tells its session. */
export interface ConnectionListener {
  /** One client message. */
  message (data: Buffer, isBinary: boolean): void
  /** The client broke the protocol; the close frame (`close`) is already sent. */
  protocolError (close: Close): void
  /** The connection is closed (handshake done, or dropped): the code the client sent, or 1006. */
  closed (code: number): void
}

/**
 * The client side of a session (websocketd's `Endpoint`): messages in, encoded frames out, close,
 * pause and resume, liveness. A session sees nothing else of the client, so it can be driven by a
 * fake connection in tests.
 */
export interface Connection {
  /** Starts reading: `listener` hears every message and the close from now on. */
  start (listener: ConnectionListener): void
  /** Writes frames; false when the client holds {@link OUTPUT_HIGH_WATER_BYTES} or more unsent (see {@link whenDrained}). */
  send (frames: Buffer): boolean
  /** Calls `callback` once what the client holds has drained. */
  whenDrained (callback: () => void): void
  /** Sends a close frame (the close handshake follows). */
  close (close: Close): void
  /** Drops the connection without a handshake. */
  terminate (): void
  /** Stops reading client messages (input backpressure) until {@link resume}. */
  pause (): void
  resume (): void
  /** True once the connection is closed. */
  readonly closed: boolean
  /** Bytes held for the client (written, not yet sent) and from it (received, not yet read). */
  readonly buffered: { readonly toClient: number, readonly fromClient: number }
  /** Bytes written for the client, not yet sent (`buffered.toClient` without an object per call). */
  readonly writableLength: number
  /** Ends the session (through `expire`) on idleness, age or a dead peer: see {@link watch}. */
  watch (limits: WatchdogLimits, expire: (close: Close) => void): void
}

/**
 * The only module that knows ws and the raw socket. Messages are read through ws (the plain frames
 * of many small messages by {@link FastReceive}); frames are encoded by the session and written
 * to the TCP socket directly, past ws's Sender, which saves a copy and a write per message.
 *
 * The raw-write rule: a raw write is safe because ws's Sender never queues and never writes on its
 * own between two of our writes, so frames never interleave. That holds while there is no
 * permessage-deflate (the server turns it off: ws would then compress and queue), nothing sends
 * Blobs (ws reads them asynchronously and queues behind them), and nothing else sends data
 * messages through ws on this connection; only control frames (close, ping, pong) go through ws,
 * each written whole at once. {@link assertRawWritable} checks what can be checked at start-up.
 */
export class WsConnection implements Connection, Watched {
  readonly #ws: WebSocket
  readonly #socket: Socket
  readonly #fast: FastReceive
  /** `performance.now()` of the last message either way, for idle timeouts. */
  #lastActivity = performance.now()
  /** `performance.now()` of the last client message, which proves the peer alive as a pong does. */
  #lastInput = 0
  #paused = false
  /** `performance.now()` when reading the client last resumed after input backpressure (0: never). */
  #resumedAt = 0
  /** How the watchdog ends the session (see {@link watch}). */
  #expire: ((close: Close) => void) | undefined

  /** `socket` is the connection's TCP socket, to which frames are written directly. */
  constructor (ws: WebSocket, socket: Socket, fast: FastReceive) {
    this.#ws = ws
    this.#socket = socket
    this.#fast = fast
  }

  start (listener: ConnectionListener): void {
    const ws = this.#ws
    this.#fast.attach(ws)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.#lastActivity = this.#lastInput = performance.now()
      listener.message(data, isBinary)
    })
    ws.once('close', (code: number) => listener.closed(code))
    // ws emits errors only for protocol violations, and has already sent the close frame.
    ws.on('error', (err: NodeJS.ErrnoException) => listener.protocolError({ code: closeForProtocolError(err.code), reason: err.message }))
  }

  send (frames: Buffer): boolean {
    this.#lastActivity = performance.now()
    this.#socket.write(frames)
    return this.#socket.writableLength < OUTPUT_HIGH_WATER_BYTES
  }

  whenDrained (callback: () => void): void {
    this.#socket.once('drain', callback)
  }

  close (close: Close): void {
    this.#ws.close(close.code, close.reason)
  }

  terminate (): void {
    this.#ws.terminate()
  }

  pause (): void {
    this.#paused = true
    this.#ws.pause()
  }

  resume (): void {
    this.#paused = false
    this.#resumedAt = performance.now()
    this.#ws.resume()
  }

  get closed (): boolean {
    return this.#ws.readyState === WebSocket.CLOSED
  }

  get writableLength (): number {
    return this.#socket.writableLength
  }

  get buffered (): { toClient: number, fromClient: number } {
    return { toClient: this.#socket.writableLength, fromClient: this.#socket.readableLength }
  }

  watch (limits: WatchdogLimits, expire: (close: Close) => void): void {
    this.#expire = expire
    // The connection is its own watched side: no object or closures per session for it.
    watch(this, limits)
  }

  // What the watchdog reads and calls (its Watched interface); the clock is the connection's own.

  /** `performance.now()` of the last message either way. */
  get lastActivity (): number {
    return this.#lastActivity
  }

  /** `performance.now()` of the last client message. */
  get lastInput (): number {
    return this.#lastInput
  }

  /** True while the client's socket is not read (input backpressure). */
  get inputPaused (): boolean {
    return this.#paused
  }

  /** `performance.now()` when reading the client last resumed after a pause (0: never). */
  get inputResumedAt (): number {
    return this.#resumedAt
  }

  ping (): void {
    this.#ws.ping()
  }

  onPong (callback: () => void): void {
    this.#ws.on('pong', callback)
  }

  onClose (callback: () => void): void {
    this.#ws.once('close', callback)
  }

  /** Ends the session through the callback given to {@link watch}. */
  expire (close: Close): void {
    (this.#expire as (close: Close) => void)(close)
  }
}

/**
 * Checked at start-up: throws when the ws server that hands connections to sessions could
 * negotiate permessage-deflate, under which ws compresses and queues what it sends and raw frame
 * writes would interleave with its own (see {@link WsConnection}).
 */
export function assertRawWritable (server: WebSocketServer): void {
  if (server.options.perMessageDeflate !== false) throw new TypeError('sessions write frames to the socket directly: the WebSocket server needs perMessageDeflate: false')
}
