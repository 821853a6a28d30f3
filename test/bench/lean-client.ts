import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { buildUpgradeRequest, encodeMaskedFrame, FrameParser, Opcode, parseUpgradeResponse } from './ws-frames.js'

/** Size of the buffer every read from the kernel lands in, reused for the next read (batched mode: larger). */
const READ_BUFFER_BYTES = 16 * 1024
const BATCHED_READ_BUFFER_BYTES = 256 * 1024
/** In batched mode, a read smaller than this pauses the socket for {@link BATCH_PAUSE_MS}. */
const SMALL_READ_BYTES = 16 * 1024
const BATCH_PAUSE_MS = 1

/** How a connection ended, as the client saw it. */
export interface CloseInfo {
  /** Close code from the server's close frame; undefined when the TCP connection ended without one (1006). */
  code: number | undefined
  /** performance.now() when the close frame or the TCP end arrived. */
  atMs: number
  /** Socket error, if the connection failed rather than ended. */
  error: Error | undefined
}

/** Options of {@link LeanClient.connect}. */
export interface LeanClientOptions {
  host: string
  port: number
  path: string
  /** Upgrade must complete within this many ms. */
  connectTimeoutMs: number
  /**
   * Called per data message with a view that is valid only during the call; leave unset to only count
   * messages (no allocation per message).
   */
  onMessage?: (payload: Buffer) => void
  /**
   * Throughput mode: after a small read, stop reading for 1 ms so the kernel gathers many frames for
   * the next read. Costs up to 1 ms of latency; keeps the client from competing with the server for CPU.
   */
  batchReads?: boolean
}

/**
 * A minimal WebSocket client over a raw net.Socket: masked client frames, server frames parsed in
 * batches straight from one reused read buffer. Built to cost the benchmark client as little CPU as possible.
 */
export class LeanClient {
  /** Resolves once when the connection ends, never rejects. */
  readonly closed: Promise<CloseInfo>
  private readonly parser: FrameParser
  private resolveClosed!: (info: CloseInfo) => void
  private closeInfo: CloseInfo | undefined
  private sentClose = false

  private constructor (readonly socket: Socket, onMessage: ((payload: Buffer) => void) | undefined) {
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve })
    this.parser = new FrameParser({
      onMessage,
      onControl: (opcode, payload) => { this.handleControl(opcode, payload) }
    })
  }

  /** Data messages received so far. */
  get messages (): number { return this.parser.messages }
  /** Payload bytes of data messages received so far. */
  get payloadBytes (): number { return this.parser.payloadBytes }
  /** True once the connection has ended. */
  get isClosed (): boolean { return this.closeInfo !== undefined }

  /** Opens a connection and completes the upgrade; rejects on refusal, error or timeout. */
  static async connect (options: LeanClientOptions): Promise<LeanClient> {
    const { request, expectedAccept } = buildUpgradeRequest(options.host, options.port, options.path)
    let head: Buffer | null = Buffer.alloc(0)
    let onHead: (chunk: Buffer) => void = () => {}
    const batchReads = options.batchReads === true
    const readBuffer = Buffer.allocUnsafe(batchReads ? BATCHED_READ_BUFFER_BYTES : READ_BUFFER_BYTES)
    const socket: Socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes) => {
          const chunk = readBuffer.subarray(0, bytes)
          if (head !== null) {
            onHead(chunk)
            return true
          }
          client.receive(chunk)
          if (!batchReads || bytes >= SMALL_READ_BYTES || client.isClosed) return true
          setTimeout(() => { socket.resume() }, BATCH_PAUSE_MS)
          // Returning false pauses the socket: the kernel holds further frames until resume().
          return false
        }
      }
    })
    const client = new LeanClient(socket, options.onMessage)
    const upgraded = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`upgrade timed out after ${options.connectTimeoutMs} ms`)) }, options.connectTimeoutMs)
      client.closed.then((info) => {
        clearTimeout(timer)
        reject(info.error ?? new Error('connection closed before the upgrade completed'))
      }, reject)
      onHead = (chunk) => {
        const buf: Buffer = Buffer.concat([head ?? Buffer.alloc(0), chunk])
        head = buf
        let parsed: { bodyOffset: number } | null
        try {
          parsed = parseUpgradeResponse(buf, expectedAccept)
        } catch (err) {
          clearTimeout(timer)
          reject(err)
          return
        }
        if (parsed === null) return
        head = null
        clearTimeout(timer)
        resolve()
        // Frames that came with the response are parsed now, before any await, so none is lost.
        if (parsed.bodyOffset < buf.length) client.receive(buf.subarray(parsed.bodyOffset))
      }
    })
    socket.on('end', () => { client.finish(undefined, undefined) })
    socket.on('close', () => { client.finish(undefined, undefined) })
    socket.on('error', (err) => { client.finish(undefined, err) })
    socket.write(request)
    try {
      await upgraded
    } catch (err) {
      socket.destroy()
      throw err
    }
    return client
  }

  /** Sends one text message; returns socket.write's backpressure flag. */
  sendText (payload: Buffer): boolean {
    return this.socket.write(encodeMaskedFrame(Opcode.text, payload))
  }

  /** Writes pre-encoded frames, waiting for 'drain' whenever the socket buffer is full. */
  async sendEncoded (chunks: readonly Buffer[], signal: AbortSignal): Promise<void> {
    for (const chunk of chunks) {
      if (this.isClosed) throw new Error('connection closed while sending')
      if (!this.socket.write(chunk)) await once(this.socket, 'drain', { signal })
    }
  }

  /** Starts the closing handshake (code 1000) and ends the socket; the server may still send. */
  close (): void {
    if (this.sentClose || this.isClosed) return
    this.sentClose = true
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(1000)
    this.socket.end(encodeMaskedFrame(Opcode.close, payload))
  }

  /** Drops the connection without a closing handshake. */
  destroy (): void {
    this.socket.destroy()
    this.finish(undefined, undefined)
  }

  private receive (chunk: Buffer): void {
    try {
      this.parser.push(chunk)
    } catch (err) {
      this.finish(undefined, err as Error)
      this.socket.destroy()
    }
  }

  private handleControl (opcode: number, payload: Buffer): void {
    if (opcode === Opcode.ping) {
      this.socket.write(encodeMaskedFrame(Opcode.pong, Buffer.from(payload)))
    } else if (opcode === Opcode.close) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
      this.finish(code, undefined)
      if (!this.sentClose) {
        this.sentClose = true
        this.socket.end(encodeMaskedFrame(Opcode.close, Buffer.from(payload.subarray(0, 2))))
      }
    }
  }

  private finish (code: number | undefined, error: Error | undefined): void {
    if (this.closeInfo !== undefined) return
    this.closeInfo = { code, atMs: performance.now(), error }
    this.resolveClosed(this.closeInfo)
  }
}
