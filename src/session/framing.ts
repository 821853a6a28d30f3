import type { Route } from '../config/load.js'
import { encodeFrames, Opcode } from './frames.js'
import { LineSplitter } from './line-splitter.js'

/** The program's output streams that reach the client. */
export type StreamName = 'stdout' | 'stderr'

/** Frames ready for the socket, and how many messages they hold. */
export interface Encoded {
  bytes: Buffer
  messages: number
}

/**
 * How one session turns program output into WebSocket frames and client messages into program
 * input. One instance per session; each output stream is framed on its own.
 */
export interface Framing {
  /** Frames for a chunk of output, or null when it completes no message. */
  encode (chunk: Buffer, stream: StreamName): Encoded | null
  /** Frames for what is left of a stream when it ends, or null. */
  flush (stream: StreamName): Encoded | null
  /** The bytes to write to the program's stdin for one client message. */
  decode (data: Buffer, isBinary: boolean): Buffer[]
}

const NEWLINE = Buffer.from('\n')

/** Text mode: one line, one text message; a client text message becomes a line of input. */
export class TextFraming implements Framing {
  readonly #splitters: Record<StreamName, LineSplitter>
  readonly #tagged: boolean

  constructor (maxLineBytes: number, tagged: boolean) {
    this.#splitters = { stdout: new LineSplitter(maxLineBytes), stderr: new LineSplitter(maxLineBytes) }
    this.#tagged = tagged
  }

  encode (chunk: Buffer, stream: StreamName): Encoded | null {
    const lines: Buffer[] = []
    this.#splitters[stream].push(chunk, lines)
    return this.#frames(lines, stream)
  }

  flush (stream: StreamName): Encoded | null {
    const lines: Buffer[] = []
    this.#splitters[stream].end(lines)
    return this.#frames(lines, stream)
  }

  decode (data: Buffer, isBinary: boolean): Buffer[] {
    return isBinary ? [data] : [data, NEWLINE]
  }

  #frames (lines: Buffer[], stream: StreamName): Encoded | null {
    if (lines.length === 0) return null
    const payloads = this.#tagged
      ? lines.map((line) => Buffer.from(`{"stream":"${stream}","data":${JSON.stringify(line.toString('utf8'))}}`))
      : lines
    return { bytes: encodeFrames(payloads, Opcode.TEXT), messages: lines.length }
  }
}

/** Binary mode: each chunk of output is one binary message; client messages are written raw. */
export class BinaryFraming implements Framing {
  encode (chunk: Buffer): Encoded {
    return { bytes: encodeFrames([chunk], Opcode.BINARY), messages: 1 }
  }

  flush (): null {
    return null
  }

  decode (data: Buffer): Buffer[] {
    return [data]
  }
}

/** The framing a route asks for. */
export function framingFor (route: Route): Framing {
  return route.mode === 'binary' ? new BinaryFraming() : new TextFraming(route.maxLineBytes, route.stderr === 'tagged')
}
