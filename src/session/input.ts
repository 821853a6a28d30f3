import type { Writable } from 'node:stream'
import type { Framing } from './wire/framing.js'

/**
 * Bytes of input the server lets wait for the program's stdin before it stops reading the socket
 * (a pipe's own 16 KiB mark would stop and start the client every few messages).
 */
export const INPUT_HIGH_WATER_BYTES = 256 * 1024

/** What input is read from: the WebSocket, which can be paused. */
export interface Pausable {
  pause (): void
  resume (): void
}

/**
 * The program's stdin side of a session: the messages of one socket read are written in one
 * write on the next tick; while more than {@link INPUT_HIGH_WATER_BYTES} wait, the source is
 * paused until stdin drains (or closes): `onPaused` and `onResumed` are called then. Input that
 * comes before the program has started waits for it (the source paused past the same mark). Once
 * closed (or broken: EPIPE), input is dropped.
 */
export class Input {
  readonly #framing: Framing
  readonly #source: Pausable
  readonly #onPaused: () => void
  readonly #onResumed: () => void
  readonly #pending: Buffer[] = []
  #pendingBytes = 0
  #stdin: Writable | undefined
  #open = true
  #flushing = false
  #paused = false
  #ending = false
  /** The flush scheduled on the next tick: made once, not a closure per message. */
  readonly #flushSoon = (): void => this.#flush()

  constructor (framing: Framing, source: Pausable, onPaused: () => void, onResumed: () => void) {
    this.#framing = framing
    this.#source = source
    this.#onPaused = onPaused
    this.#onResumed = onResumed
  }

  /** True while the source is paused because the program does not take its input. */
  get paused (): boolean {
    return this.#paused
  }

  /** Starts writing to the program's stdin. */
  attach (stdin: Writable): void {
    this.#stdin = stdin
    // EPIPE when the program stops reading: from then on input is dropped.
    stdin.on('error', () => { this.#open = false })
    // Closed before the program started (the client left): the program reads end of input.
    if (!this.#open) stdin.end()
    if (this.#paused) this.#resume()
    if (this.#pendingBytes > 0 || this.#ending) this.#schedule()
  }

  /** Bytes waiting for the program: gathered this tick, and not yet taken by the pipe. */
  get buffered (): number {
    return this.#pendingBytes + (this.#stdin === undefined ? 0 : this.#stdin.writableLength)
  }

  /** One client message for the program. */
  push (data: Buffer, isBinary: boolean): void {
    if (!this.#open || this.#ending) return
    this.#pendingBytes += this.#framing.decode(data, isBinary, this.#pending)
    this.#schedule()
  }

  /** Ends stdin once the input received before is written (the client's end of input); later messages are dropped. */
  end (): void {
    this.#ending = true
    this.#schedule()
  }

  #schedule (): void {
    if (this.#flushing) return
    this.#flushing = true
    process.nextTick(this.#flushSoon)
  }

  #resume (): void {
    this.#paused = false
    this.#source.resume()
    this.#onResumed()
  }

  /** Closes stdin; later messages are dropped. */
  close (): void {
    this.#open = false
    this.#stdin?.end()
  }

  #flush (): void {
    this.#flushing = false
    if (this.#stdin === undefined) {
      // The program has not started yet: the input waits, and the client is paused past the mark.
      if (this.#pendingBytes >= INPUT_HIGH_WATER_BYTES && !this.#paused) {
        this.#paused = true
        this.#source.pause()
        this.#onPaused()
      }
      return
    }
    const bytes = Buffer.concat(this.#pending, this.#pendingBytes)
    this.#pending.length = 0
    this.#pendingBytes = 0
    if (!this.#open) return
    const stdin = this.#stdin as Writable
    if (this.#ending) {
      this.#open = false
      if (bytes.length > 0) stdin.write(bytes)
      stdin.end()
      return
    }
    // ws still delivers the messages it already parsed after a pause: those are written too.
    if (stdin.write(bytes) || stdin.writableLength < INPUT_HIGH_WATER_BYTES || this.#paused) return
    this.#paused = true
    this.#source.pause()
    this.#onPaused()
    const resume = (): void => {
      stdin.off('drain', resume)
      stdin.off('close', resume)
      this.#resume()
    }
    stdin.on('drain', resume)
    stdin.on('close', resume)
  }
}
