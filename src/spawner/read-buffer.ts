import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { canReadIntoBuffer, readIntoBuffer } from './handover.mjs'

/** Bytes of a server's read buffer: as much as Node reads from a pipe at once by default. */
export const READ_BUFFER_BYTES = 64 * 1024

/** Receives the bytes of one read: a view of a shared buffer, valid only until the call returns (copy what is kept). */
export type ChunkSink = (chunk: Buffer) => void

/** Where each pipe read into a shared buffer sends its reads; set when the session starts reading it. */
const sinks = new WeakMap<Readable, { sink: ChunkSink | undefined }>()

/**
 * One buffer that every program output pipe a server is handed by its spawners is read into,
 * read after read, instead of a fresh 64 KiB buffer per read (whose pages fault in on first write
 * and return only at the next GC). A read is delivered synchronously ({@link readChunks}), so one
 * buffer serves every session of the server. Owned by the server's {@link SpawnerPool}.
 */
export class ReadBuffer {
  readonly #buffer: Buffer
  readonly #log: FastifyBaseLogger
  #off = false

  constructor (log: FastifyBaseLogger, bytes = READ_BUFFER_BYTES) {
    this.#log = log
    this.#buffer = Buffer.allocUnsafeSlow(bytes)
  }

  /**
   * The output pipe `socket` (just handed over, not read yet) in a socket that reads into the
   * buffer once {@link readChunks} starts it (and is written to as well when `duplex`: a
   * terminal's socket). When Node's socket is not of the shape this relies on, `socket` itself is
   * returned (read with fresh buffers, as before) and that is logged once.
   */
  adopt (socket: Socket, duplex = false): Socket {
    if (!canReadIntoBuffer(socket)) {
      if (!this.#off) this.#log.warn({ reason: 'a handed-over socket has no _handle.readStop()' }, 'shared read buffer off')
      this.#off = true
      return socket
    }
    const target: { sink: ChunkSink | undefined } = { sink: undefined }
    const pipe = readIntoBuffer(socket, this.#buffer, (nread, buffer) => {
      // Not read before readChunks has set the sink: the socket starts paused (manualStart).
      (target.sink as ChunkSink)(buffer.subarray(0, nread))
      return undefined
    }, duplex)
    sinks.set(pipe, target)
    return pipe
  }
}

/**
 * Reads `stream` and gives `sink` each chunk, from now on: a pipe adopted by a {@link ReadBuffer}
 * is read into the server's buffer (the chunk is valid only during the call), any other stream
 * with 'data' events. `pause()` and `resume()` work on both.
 */
export function readChunks (stream: Readable, sink: ChunkSink): void {
  const target = sinks.get(stream)
  if (target === undefined) {
    stream.on('data', sink)
    return
  }
  target.sink = sink
  stream.resume()
}
