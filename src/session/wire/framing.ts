import type { Route } from '../../config/load.js'
import { encodeFrames, encodeLines, Opcode } from './frames.js'
import { LineSplitter } from './line-splitter.js'
import type { Lines } from './lines.js'
import type { Allocate } from './output-buffer.js'

/** The program's output streams that reach the client. */
export type StreamName = 'stdout' | 'stderr'

/** Frames ready for the socket, and how many messages they hold. */
export interface Encoded {
  bytes: Buffer
  messages: number
  /** The messages' payload bytes, without frame headers (what the logs and metrics count). */
  payloadBytes: number
}

/**
 * How one session turns program output into WebSocket frames and client messages into program
 * input. One instance per session; each output stream is framed on its own.
 */
export interface Framing {
  /** Frames for a chunk of output, or null when it completes no message; `chunk` may be a reused read buffer: nothing of it is kept. */
  encode (chunk: Buffer, stream: StreamName): Encoded | null
  /** Frames for what is left of a stream when it ends, or null. */
  flush (stream: StreamName): Encoded | null
  /** Appends the bytes one client message gives the program's stdin to `input`; returns their length. */
  decode (data: Buffer, isBinary: boolean, input: Buffer[]): number
}

const NEWLINE = Buffer.from('\n')

/** Text mode: one line, one text message; a client text message becomes a line of input. */
export class TextFraming implements Framing {
  readonly #splitters: Record<StreamName, LineSplitter>
  readonly #tagged: boolean
  readonly #lines: Lines
  readonly #alloc: Allocate

  /**
   * `lines` is filled and emptied within each call: the server's sessions share one (see {@link Lines});
   * `alloc` provides the buffers frames are encoded into (a server's OutputBuffer reuses one).
   */
  constructor (maxLineBytes: number, tagged: boolean, lines: Lines, alloc: Allocate = Buffer.allocUnsafe) {
    this.#splitters = { stdout: new LineSplitter(maxLineBytes), stderr: new LineSplitter(maxLineBytes) }
    this.#tagged = tagged
    this.#lines = lines
    this.#alloc = alloc
  }

  encode (chunk: Buffer, stream: StreamName): Encoded | null {
    this.#splitters[stream].push(chunk, this.#lines)
    return this.#frames(stream)
  }

  flush (stream: StreamName): Encoded | null {
    this.#splitters[stream].end(this.#lines)
    return this.#frames(stream)
  }

  decode (data: Buffer, isBinary: boolean, input: Buffer[]): number {
    input.push(data)
    if (isBinary) return data.length
    input.push(NEWLINE)
    return data.length + 1
  }

  #frames (stream: StreamName): Encoded | null {
    const lines = this.#lines
    const messages = lines.count
    let bytes: Buffer | undefined
    let payloadBytes = lines.bytes
    if (messages > 0 && !this.#tagged) bytes = encodeLines(lines, this.#alloc)
    else if (messages > 0) {
      const payloads: Buffer[] = []
      payloadBytes = 0
      for (let i = 0; i < messages; i++) {
        const payload = Buffer.from(`{"stream":"${stream}","data":${JSON.stringify(lines.line(i).toString('utf8'))}}`)
        payloads.push(payload)
        payloadBytes += payload.length
      }
      bytes = encodeFrames(payloads, Opcode.TEXT, this.#alloc)
    }
    lines.release()
    return bytes === undefined ? null : { bytes, messages, payloadBytes }
  }
}

/** Binary mode: each chunk of output is one binary message; client messages are written raw. */
export class BinaryFraming implements Framing {
  readonly #alloc: Allocate

  /** `alloc` provides the buffers frames are encoded into (a server's OutputBuffer reuses one). */
  constructor (alloc: Allocate = Buffer.allocUnsafe) {
    this.#alloc = alloc
  }

  encode (chunk: Buffer): Encoded {
    return { bytes: encodeFrames([chunk], Opcode.BINARY, this.#alloc), messages: 1, payloadBytes: chunk.length }
  }

  flush (): null {
    return null
  }

  decode (data: Buffer, _isBinary: boolean, input: Buffer[]): number {
    input.push(data)
    return data.length
  }
}

/** The framing a route asks for; text framing splits lines into `lines`; frames are encoded into buffers from `alloc`. */
export function framingFor (route: Route, lines: Lines, alloc: Allocate = Buffer.allocUnsafe): Framing {
  return route.mode === 'binary' ? new BinaryFraming(alloc) : new TextFraming(route.maxLineBytes, route.stderr === 'tagged', lines, alloc)
}
