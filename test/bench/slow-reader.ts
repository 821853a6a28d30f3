import { connect, type Socket } from 'node:net'
import { buildUpgradeRequest, parseUpgradeResponse } from './ws-frames.js'

/** Options of {@link openSlowReader}. */
export interface SlowReaderOptions {
  host: string
  port: number
  path: string
  connectTimeoutMs: number
}

/**
 * A WebSocket connection whose socket stays paused: bytes are taken only by {@link SlowReader.read},
 * so the kernel buffers fill and TCP backpressure reaches the server. Frames are not parsed.
 */
export interface SlowReader {
  /** Takes up to `maxBytes` from the socket; returns how many were taken. */
  read: (maxBytes: number) => number
  /** Bytes taken so far, counting from the start of the frames (after the HTTP response). */
  readonly receivedBytes: number
  /** True once the server ended the connection. */
  readonly ended: boolean
  /** Destroys the socket. */
  destroy: () => void
}

/** Connects, reads the upgrade response, then leaves the socket paused. Rejects on refusal or timeout. */
export async function openSlowReader (options: SlowReaderOptions): Promise<SlowReader> {
  const socket: Socket = connect({ host: options.host, port: options.port })
  const { request, expectedAccept } = buildUpgradeRequest(options.host, options.port, options.path)
  let ended = false
  socket.on('end', () => { ended = true })
  socket.on('close', () => { ended = true })
  socket.on('error', () => { ended = true })
  socket.write(request)
  let head = Buffer.alloc(0)
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { done(new Error(`upgrade timed out after ${options.connectTimeoutMs} ms`)) }, options.connectTimeoutMs)
      const done = (err: Error | null): void => {
        clearTimeout(timer)
        socket.off('readable', onReadable)
        socket.off('close', onClose)
        if (err === null) resolve()
        else reject(err)
      }
      const onClose = (): void => { done(new Error('connection closed before the upgrade completed')) }
      const onReadable = (): void => {
        const chunk = socket.read() as Buffer | null
        if (chunk === null) return
        head = Buffer.concat([head, chunk])
        try {
          const parsed = parseUpgradeResponse(head, expectedAccept)
          if (parsed === null) return
          // Frames that came with the response go back to the stream, to be taken by read() later.
          if (parsed.bodyOffset < head.length) socket.unshift(head.subarray(parsed.bodyOffset))
          done(null)
        } catch (err) {
          done(err as Error)
        }
      }
      socket.on('readable', onReadable)
      socket.on('close', onClose)
    })
  } catch (err) {
    socket.destroy()
    throw err
  }
  let receivedBytes = 0
  return {
    read (maxBytes) {
      const available = socket.readableLength
      if (available === 0) {
        // Nudges the stream to pull from the kernel again for the next call.
        socket.read(0)
        return 0
      }
      const chunk = socket.read(Math.min(maxBytes, available)) as Buffer | null
      const taken = chunk?.length ?? 0
      receivedBytes += taken
      return taken
    },
    get receivedBytes () { return receivedBytes },
    get ended () { return ended },
    destroy () { socket.destroy() }
  }
}
