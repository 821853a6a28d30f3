import { StringDecoder } from 'node:string_decoder'
import type { Route } from '../../config/load.js'
import { capSide } from '../streams.js'
import { ChannelFraming, isSide } from './channels.js'
import { EOF_CHARACTER, type SessionControls, type SessionFraming } from '../controls.js'
import { encodeFrames, Opcode } from './frames.js'
import { BinaryFraming, framingFor, type Encoded, type Framing, type StreamName } from './framing.js'
import type { SessionStreams } from '../streams.js'
import type { Lines } from './lines.js'
import type { Allocate } from './output-buffer.js'

/** The first byte of a text message that may be a JSON control. */
const BRACE = 0x7b

/** Terminal output in binary mode: one binary message per chunk, as on a binary pipe route. */
const BINARY = new BinaryFraming()

/**
 * PTY routes on the plain protocol: terminal output goes out raw as it comes, one message per
 * chunk (binary, or text that is always valid UTF-8: a character split between chunks waits for
 * its end); every client message is written as it is (keystrokes, no newline added). An empty
 * binary message types the EOF character. With `ttyControl: json`, a text message that is a JSON
 * object with a `resize` member is a resize, not input (ignored with a log line when its size is
 * not valid).
 */
export class TerminalFraming implements SessionFraming {
  readonly #decoder: StringDecoder | undefined
  readonly #controls: SessionControls
  readonly #jsonControl: boolean

  constructor (route: Route, controls: SessionControls) {
    this.#decoder = route.mode === 'text' ? new StringDecoder('utf8') : undefined
    this.#controls = controls
    this.#jsonControl = route.ttyControl === 'json'
  }

  encode (chunk: Buffer): Encoded | null {
    if (this.#decoder === undefined) return BINARY.encode(chunk)
    return this.#text(this.#decoder.write(chunk))
  }

  flush (): Encoded | null {
    return this.#decoder === undefined ? null : this.#text(this.#decoder.end())
  }

  decode (data: Buffer, isBinary: boolean, input: Buffer[]): number {
    if (isBinary && data.length === 0) {
      input.push(EOF_CHARACTER)
      return EOF_CHARACTER.length
    }
    if (!isBinary && this.#jsonControl && data[0] === BRACE && this.#control(data)) return 0
    input.push(data)
    return data.length
  }

  /** True when `data` was a resize control (applied or ignored), false when it is input. */
  #control (data: Buffer): boolean {
    let message: unknown
    try {
      message = JSON.parse(data.toString('utf8'))
    } catch {
      return false
    }
    // JSON text that starts with a brace is an object.
    if (!Object.hasOwn(message as object, 'resize')) return false
    const { cols, rows } = ((message as { resize: unknown }).resize ?? {}) as { cols?: unknown, rows?: unknown }
    if (isSide(cols) && isSide(rows)) this.#controls.resize(capSide(cols), capSide(rows))
    else this.#controls.ignore('info', 'resize message without valid cols and rows')
    return true
  }

  #text (text: string): Encoded | null {
    if (text === '') return null
    const payload = Buffer.from(text)
    return { bytes: encodeFrames([payload], Opcode.TEXT), messages: 1, payloadBytes: payload.length }
  }
}

/** A plain route's framing, where an empty binary message is the client's end of input (websocat's convention). */
class EndOfInputFraming implements SessionFraming {
  readonly #framing: Framing
  readonly #controls: SessionControls

  constructor (framing: Framing, controls: SessionControls) {
    this.#framing = framing
    this.#controls = controls
  }

  encode (chunk: Buffer, stream: StreamName): Encoded | null {
    return this.#framing.encode(chunk, stream)
  }

  flush (stream: StreamName): Encoded | null {
    return this.#framing.flush(stream)
  }

  decode (data: Buffer, isBinary: boolean, input: Buffer[]): number {
    if (isBinary && data.length === 0) {
      this.#controls.endInput()
      return 0
    }
    return this.#framing.decode(data, isBinary, input)
  }
}

/**
 * The framing of one session: Kubernetes channels, a terminal's raw bytes, or the route's text or
 * binary framing (text framing splits lines into `lines`; frames go into buffers from `alloc`).
 */
export function sessionFraming (route: Route, streams: SessionStreams, controls: SessionControls, lines: Lines, alloc: Allocate = Buffer.allocUnsafe): SessionFraming {
  if (streams.channel !== null) return new ChannelFraming(streams.channel, streams, controls, route.tty)
  if (route.tty) return new TerminalFraming(route, controls)
  return new EndOfInputFraming(framingFor(route, lines, alloc), controls)
}
