import { constants } from 'node:os'
import { CloseCode, type Close } from '../../close-codes.js'
import { EOF_CHARACTER, type Outcome, type SessionControls, type SessionFraming } from '../controls.js'
import { encodeFrames, Opcode } from './frames.js'
import type { Encoded, StreamName } from './framing.js'
import { capSide, type ChannelProtocol, type SessionStreams } from '../streams.js'

/** Kubernetes exec channels: the first byte of every message. */
export const Channel = Object.freeze({
  STDIN: 0,
  STDOUT: 1,
  STDERR: 2,
  /** Error/status: one Kubernetes `Status` just before the close (v4, v5), or error text (channel.k8s.io). */
  STATUS: 3,
  /** Terminal size from the client: `{"Width":W,"Height":H}`. */
  RESIZE: 4,
  /** v5.channel.k8s.io: `[255, channel]` closes that channel (`[255, 0]`: end of stdin). */
  CLOSE: 255
})

const signalNumbers: Readonly<Record<string, number>> = constants.signals

/** Kubernetes `Status` object, serialised as Go's encoding/json writes `metav1.Status` (field order, empty fields left out). */
interface Status {
  metadata: Record<string, never>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  details?: { causes: Array<{ reason?: string, message: string }> }
  code?: number
}

/**
 * The `Status` the kubelet reports for `outcome`: Success for exit 0; NonZeroExitCode with the
 * status as the ExitCode cause for exit N, and 128 + N for a death by signal N (as container
 * runtimes report it); InternalError (code 500) for a program that could not start.
 */
export function statusFor (outcome: Outcome): Status {
  if (outcome.spawnError !== null) {
    const message = `error executing command in container: spawn failed: ${outcome.spawnError}`
    return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', details: { causes: [{ message }] }, code: 500 }
  }
  // A program that did not fail to start ended with an exit status or by a signal Node names.
  const exitCode = outcome.signal !== null ? 128 + (signalNumbers[outcome.signal] as number) : outcome.exitCode as number
  if (exitCode === 0) return { metadata: {}, status: 'Success' }
  const how = outcome.signal !== null ? `signal ${outcome.signal}` : `exit status ${exitCode}`
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${how}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] }
  }
}

function frame (channel: number, payload: Buffer): Encoded {
  const message = Buffer.allocUnsafe(payload.length + 1)
  message[0] = channel
  payload.copy(message, 1)
  return { bytes: encodeFrames([message], Opcode.BINARY), messages: 1, payloadBytes: message.length }
}

/**
 * Kubernetes exec channel framing (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `channel.k8s.io`):
 * every message is binary, `[channel][payload]`. Output chunks go out as they come on channel 1
 * (stdout, and stderr on a terminal) and 2 (stderr); the client writes stdin on channel 0, resizes
 * on channel 4 (v4, v5, tty routes), ends stdin with `[255, 0]` (v5). A client message on channel
 * 1, 2 or 3 is refused (1002); an empty one or one on another channel is ignored. The status goes
 * on channel 3 just before the close, whose code is 1000 whatever the exit status.
 */
export class ChannelFraming implements SessionFraming {
  readonly #protocol: ChannelProtocol
  readonly #streams: SessionStreams
  readonly #controls: SessionControls
  readonly #tty: boolean

  constructor (protocol: ChannelProtocol, streams: SessionStreams, controls: SessionControls, tty: boolean) {
    this.#protocol = protocol
    this.#streams = streams
    this.#controls = controls
    this.#tty = tty
  }

  encode (chunk: Buffer, stream: StreamName): Encoded | null {
    if (stream === 'stdout' ? !this.#streams.stdout : !this.#streams.stderr) return null
    return frame(stream === 'stdout' ? Channel.STDOUT : Channel.STDERR, chunk)
  }

  flush (): null {
    return null
  }

  decode (data: Buffer, _isBinary: boolean, input: Buffer[]): number {
    if (data.length === 0) {
      this.#controls.ignore('debug', 'empty channel message')
      return 0
    }
    const channel = data[0] as number
    switch (channel) {
      case Channel.STDIN:
        if (data.length === 1) return 0
        input.push(data.subarray(1))
        return data.length - 1
      case Channel.STDOUT:
      case Channel.STDERR:
      case Channel.STATUS:
        this.#controls.refuse(`client message on server channel ${channel}`)
        return 0
      case Channel.RESIZE:
        if (this.#protocol === 'channel.k8s.io' || !this.#tty) break
        this.#resize(data.subarray(1))
        return 0
      case Channel.CLOSE:
        if (this.#protocol !== 'v5.channel.k8s.io') break
        if (data.length !== 2 || data[1] !== Channel.STDIN) break
        if (!this.#tty) {
          this.#controls.endInput()
          return 0
        }
        // A terminal's input ends as when Ctrl-D is typed.
        input.push(EOF_CHARACTER)
        return EOF_CHARACTER.length
    }
    this.#controls.ignore('debug', `message on channel ${channel} ignored`)
    return 0
  }

  /** Channel 3's status, then close code 1000 with the reason as it is (`exit 3`). */
  final (outcome: Outcome, close: Close): { encoded: Encoded | null, close: Close } {
    const status = statusFor(outcome)
    const normal = { code: CloseCode.NORMAL, reason: close.reason }
    if (this.#protocol !== 'channel.k8s.io') return { encoded: frame(Channel.STATUS, Buffer.from(JSON.stringify(status))), close: normal }
    // The legacy protocol sends nothing on success (client-go reads any bytes there as an error), and the message as text on failure.
    return { encoded: status.status === 'Success' ? null : frame(Channel.STATUS, Buffer.from(status.message as string)), close: normal }
  }

  #resize (payload: Buffer): void {
    let size: unknown
    try {
      size = JSON.parse(payload.toString('utf8'))
    } catch {
      this.#controls.ignore('info', 'resize message is not JSON')
      return
    }
    const { Width: cols, Height: rows } = (size ?? {}) as { Width?: unknown, Height?: unknown }
    if (isSide(cols) && isSide(rows)) this.#controls.resize(capSide(cols), capSide(rows))
    else this.#controls.ignore('info', 'resize message without a valid Width and Height')
  }
}

/** True for a terminal side the kernel accepts (1–65535). */
export function isSide (n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535
}
