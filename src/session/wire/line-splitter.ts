import { isUtf8 } from 'node:buffer'
import type { Lines } from './lines.js'

const NL = 0x0a
const CR = 0x0d

/** The smallest `maxLineBytes`: a cut of fewer bytes could split a 4-byte UTF-8 character. */
export const MIN_LINE_BYTES = 4

/**
 * Splits a byte stream into lines: one trailing `\n` or `\r\n` is removed, a line longer than
 * `maxLineBytes` is cut into pieces (at a UTF-8 character boundary), and what is left when the
 * stream ends is the last line. Every line handed out is valid UTF-8: invalid bytes become
 * U+FFFD. At most `maxLineBytes` (and a CR that may start a CRLF) of an unfinished line are held,
 * as the pieces they arrived in: they are joined once, when the line ends or must be cut, so a
 * long line costs time linear in its length. Throws a TypeError when `maxLineBytes` is below 4.
 */
export class LineSplitter {
  readonly #maxLineBytes: number
  /** The unfinished line's pieces (copies), in order, and their total length. */
  readonly #held: Buffer[] = []
  #heldBytes = 0

  constructor (maxLineBytes: number) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < MIN_LINE_BYTES) {
      throw new TypeError(`maxLineBytes must be an integer >= ${MIN_LINE_BYTES}: ${String(maxLineBytes)}`)
    }
    this.#maxLineBytes = maxLineBytes
  }

  /** Fills `lines` with the complete lines of `chunk`; keeps no reference to `chunk` (what it holds is copied). */
  push (chunk: Buffer, lines: Lines): void {
    lines.reset(chunk)
    let start = 0
    // Only the new bytes are searched: the held ones have no newline.
    let nl = chunk.indexOf(NL)
    if (this.#heldBytes !== 0 && nl !== -1) {
      // A view of the chunk (which may be a reused read buffer) only until #take joins it to the held start: a copy.
      this.#held.push(chunk.subarray(0, nl))
      this.#heldBytes += nl
      this.#own(this.#take(), lines)
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

  /** Fills `lines` with the unfinished last line, if any (cut when over `maxLineBytes`). */
  end (lines: Lines): void {
    lines.reset(lines.chunk)
    if (this.#heldBytes === 0) return
    this.#cut(this.#take(), lines)
  }

  /** A line that is not a plain range of the chunk: strip CR, cut, and check each piece. */
  #own (line: Buffer, lines: Lines): void {
    const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length
    this.#cut(line.subarray(0, end), lines)
  }

  /** Adds `body` as pieces of at most `maxLineBytes`, each cut at a character boundary and made valid UTF-8. */
  #cut (body: Buffer, lines: Lines): void {
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

  /**
   * Holds the start of an unfinished line. Only once it is longer than `maxLineBytes` (a last CR
   * aside, which may be half of a CRLF) is it joined and cut: a line of exactly `maxLineBytes`
   * stays whole until its newline.
   */
  #hold (rest: Buffer, lines: Lines): void {
    // Copy, so the rest of a large chunk is not kept alive by a few bytes.
    this.#held.push(Buffer.from(rest))
    this.#heldBytes += rest.length
    const max = this.#maxLineBytes
    const cr = rest[rest.length - 1] === CR ? 1 : 0
    if (this.#heldBytes - cr <= max) return
    let carry = this.#take()
    while (carry.length - cr > max) {
      const cut = boundary(carry, max)
      lines.addOwn(sanitise(carry.subarray(0, cut)))
      carry = carry.subarray(cut)
    }
    // Never empty: each cut takes at most `max` of the more than `max` bytes.
    this.#held.push(Buffer.from(carry))
    this.#heldBytes = carry.length
  }

  /** The held pieces joined (one copy), and nothing held any more. */
  #take (): Buffer {
    const all = this.#held.length === 1 ? this.#held[0] as Buffer : Buffer.concat(this.#held, this.#heldBytes)
    this.#held.length = 0
    this.#heldBytes = 0
    return all
  }
}

/** The largest cut at or below `max` that does not split a UTF-8 sequence (or `max`). */
function boundary (bytes: Buffer, max: number): number {
  for (let cut = max; cut > max - MIN_LINE_BYTES; cut--) {
    if (((bytes[cut] as number) & 0xc0) !== 0x80) return cut
  }
  return max
}

/** The bytes themselves when they are valid UTF-8, else their decoding with U+FFFD re-encoded. */
export function sanitise (bytes: Buffer): Buffer {
  return isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8'))
}
