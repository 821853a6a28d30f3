import { isUtf8 } from 'node:buffer'
import type { Lines } from './lines.js'

const NL = 0x0a
const CR = 0x0d

/**
 * Splits a byte stream into lines: one trailing `\n` or `\r\n` is removed, a line longer than
 * `maxLineBytes` is cut into pieces (at a UTF-8 character boundary where possible), and what is
 * left when the stream ends is the last line. Every line handed out is valid UTF-8: invalid
 * bytes become U+FFFD. At most `maxLineBytes` of an unfinished line are held.
 */
export class LineSplitter {
  readonly #maxLineBytes: number
  #carry: Buffer | null = null

  constructor (maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes
  }

  /** Fills `lines` with the complete lines of `chunk`. */
  push (chunk: Buffer, lines: Lines): void {
    lines.reset(chunk)
    let start = 0
    let nl = chunk.indexOf(NL)
    if (this.#carry !== null && nl !== -1) {
      this.#own(Buffer.concat([this.#carry, chunk.subarray(0, nl)]), lines)
      this.#carry = null
      start = nl + 1
      nl = chunk.indexOf(NL, start)
    }
    if (nl !== -1) {
      // Lines inside a chunk that is valid UTF-8 up to its last newline need no check of their own.
      const valid = isUtf8(chunk.subarray(start, chunk.lastIndexOf(NL) + 1))
      const max = this.#maxLineBytes
      while (nl !== -1) {
        const end = nl > start && chunk[nl - 1] === CR ? nl - 1 : nl
        if (!valid) this.#own(chunk.subarray(start, end), lines)
        else if (end - start <= max) lines.addRange(start, end)
        else this.#pieces(chunk, start, end, lines)
        start = nl + 1
        nl = chunk.indexOf(NL, start)
      }
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start), lines)
  }

  /** Fills `lines` with the unfinished last line, if any. */
  end (lines: Lines): void {
    lines.reset(lines.chunk)
    if (this.#carry === null) return
    const rest = this.#carry
    this.#carry = null
    lines.addOwn(sanitise(rest))
  }

  /** A line that is not a plain range of the chunk: strip CR, cut, and check each piece. */
  #own (line: Buffer, lines: Lines): void {
    const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length
    let body = line.subarray(0, end)
    while (body.length > this.#maxLineBytes) {
      const cut = boundary(body, this.#maxLineBytes)
      lines.addOwn(sanitise(body.subarray(0, cut)))
      body = body.subarray(cut)
    }
    lines.addOwn(sanitise(body))
  }

  /** A long, valid line of the chunk: its pieces are ranges too. */
  #pieces (chunk: Buffer, start: number, end: number, lines: Lines): void {
    while (end - start > this.#maxLineBytes) {
      const cut = start + boundary(chunk.subarray(start, end), this.#maxLineBytes)
      lines.addRange(start, cut)
      start = cut
    }
    lines.addRange(start, end)
  }

  #hold (rest: Buffer, lines: Lines): void {
    let carry = this.#carry === null ? rest : Buffer.concat([this.#carry, rest])
    while (carry.length >= this.#maxLineBytes) {
      const cut = boundary(carry, this.#maxLineBytes)
      lines.addOwn(sanitise(carry.subarray(0, cut)))
      carry = carry.subarray(cut)
    }
    // Copy, so the rest of a large chunk is not kept alive by a few bytes.
    this.#carry = carry.length === 0 ? null : Buffer.from(carry)
  }
}

/** The largest cut at or below `max` that does not split a UTF-8 sequence (or `max`). */
function boundary (bytes: Buffer, max: number): number {
  for (let cut = max; cut > max - 4 && cut > 0; cut--) {
    if (((bytes[cut] as number) & 0xc0) !== 0x80) return cut
  }
  return max
}

/** The bytes themselves when they are valid UTF-8, else their decoding with U+FFFD re-encoded. */
export function sanitise (bytes: Buffer): Buffer {
  return isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8'))
}
