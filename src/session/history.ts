import type { Encoded } from './wire/framing.js'

/** One chunk of output as it was encoded: its frames, the sequence number of its first message, and how many it holds. */
interface Entry {
  readonly bytes: Buffer
  readonly first: number
  readonly messages: number
  /** Byte position of the entry's end in the whole output (frames, headers included). */
  readonly end: number
}

/** A run of frames to write to a client, and where its cursor stands after it. */
export interface Piece {
  readonly bytes: Buffer
  readonly messages: number
  /** Sequence number of the message after the piece. */
  readonly seq: number
  /** Byte position after the piece. */
  readonly byte: number
}

/**
 * The program side's output history: the encoded frames of each chunk as they were written (no
 * copy, no re-encoding), each message numbered from 0 in order, each byte positioned in the whole
 * output. Clients hold cursors (a message number and its byte position) into it; what no cursor
 * needs and is not among the last bytes kept for late joiners is dropped by {@link trim}.
 */
export class History {
  readonly #entries: Entry[] = []
  /** Index of the oldest kept entry in `#entries` (dropped ones are spliced out in batches). */
  #head = 0
  #endSeq = 0
  #endByte = 0

  /** The number of the next message. */
  get endSeq (): number {
    return this.#endSeq
  }

  /** The byte position of the end of the output. */
  get endByte (): number {
    return this.#endByte
  }

  /** Keeps a chunk's frames (the buffer itself: it must not be reused). */
  append (encoded: Encoded): void {
    this.#endSeq += encoded.messages
    this.#endByte += encoded.bytes.length
    this.#entries.push({ bytes: encoded.bytes, first: this.#endSeq - encoded.messages, messages: encoded.messages, end: this.#endByte })
  }

  /** The byte position of message `seq` (a kept one, or the end). */
  position (seq: number): number {
    const at = this.#find(seq)
    if (at === undefined) return this.#endByte
    const e = this.#entries[at] as Entry
    return e.end - e.bytes.length + skipFrames(e.bytes, seq - e.first)
  }

  /** The frames of every message from `seq` on (a kept one, or the end), chunk by chunk. */
  since (seq: number): Piece[] {
    const at = this.#find(seq)
    if (at === undefined) return []
    const pieces: Piece[] = []
    const first = this.#entries[at] as Entry
    const skip = seq - first.first
    pieces.push({ bytes: skip === 0 ? first.bytes : first.bytes.subarray(skipFrames(first.bytes, skip)), messages: first.messages - skip, seq: first.first + first.messages, byte: first.end })
    for (let i = at + 1; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      pieces.push({ bytes: e.bytes, messages: e.messages, seq: e.first + e.messages, byte: e.end })
    }
    return pieces
  }

  /** The number of the oldest kept message whose frames, with all that follow, fit in `bytes`: where a replay of `bytes` starts. */
  replayStart (bytes: number): number {
    const limit = this.#endByte - bytes
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Entry
      if (e.end <= limit) continue
      let at = e.end - e.bytes.length
      let seq = e.first
      while (at < limit) {
        at += skipFrames(e.bytes.subarray(at - (e.end - e.bytes.length)), 1)
        seq++
      }
      return seq
    }
    return this.#endSeq
  }

  /** Drops the oldest entries that hold no message from `keepSeq` on and no byte of the last `keepBytes`. */
  trim (keepSeq: number, keepBytes: number): void {
    const limit = this.#endByte - keepBytes
    while (this.#head < this.#entries.length) {
      const e = this.#entries[this.#head] as Entry
      if (e.end > limit || e.first + e.messages > keepSeq) break
      this.#head++
    }
    if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }

  /** Index of the kept entry that holds message `seq`, or undefined when `seq` is the end. */
  #find (seq: number): number | undefined {
    let lo = this.#head
    let hi = this.#entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const e = this.#entries[mid] as Entry
      if (seq < e.first) hi = mid - 1
      else if (seq >= e.first + e.messages) lo = mid + 1
      else return mid
    }
    return undefined
  }
}

/** The byte length of the first `count` frames of `frames` (server frames: unmasked). */
export function skipFrames (frames: Buffer, count: number): number {
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = (frames[at + 1] as number) & 0x7f
    if (length < 126) at += 2 + length
    else if (length === 126) at += 4 + frames.readUInt16BE(at + 2)
    else at += 10 + frames.readUInt32BE(at + 2) * 2 ** 32 + frames.readUInt32BE(at + 6)
  }
  return at
}
