import type { Close } from '../close-codes.js'
import type { Encoded, Framing } from './wire/framing.js'

/** The terminal's end-of-file character (VEOF, Ctrl-D), typed for the client's end of input on a PTY route. */
export const EOF_CHARACTER = Buffer.from([0x04])

/** What a client message can ask of the program side besides input. */
export interface SessionControls {
  /** The client's end of input: stdin is ended once the input received before it is written. */
  endInput (): void
  /** A new terminal size (PTY routes). */
  resize (cols: number, rows: number): void
  /** The client broke the session's protocol: the session ends with 1002 and `reason`. */
  refuse (reason: string): void
  /** A message that is neither input nor a control, dropped with a log line (`level` debug or info). */
  ignore (level: 'debug' | 'info', reason: string): void
}

/** How the program ended, as the last frames and the close code report it. */
export interface Outcome {
  readonly exitCode: number | null
  readonly signal: string | null
  /** The spawn error code when the program could not start. */
  readonly spawnError: string | null
}

/** A session's framing, which may also say how the session ends (channel sessions send a status first). */
export interface SessionFraming extends Framing {
  /** The frames to send last and the close to send after them, instead of `close`. */
  final? (outcome: Outcome, close: Close): { encoded: Encoded | null, close: Close }
}
