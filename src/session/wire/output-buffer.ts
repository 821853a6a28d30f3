/** Bytes of the reusable buffer: one 64 KiB read of output in 1-byte lines, with room for frame headers. */
export const OUTPUT_BUFFER_BYTES = 256 * 1024

/** Allocates the buffer that a chunk's encoded frames are written into. */
export type Allocate = (size: number) => Buffer

/** What {@link OutputBuffer.release} needs to know about the socket the frames went to. */
export interface Drained {
  readonly writableLength: number
}

/**
 * One reusable buffer for the frames of one chunk of output, so that encoding a chunk costs no
 * fresh memory (whose pages fault in on first write and return only at the next GC). Owned by a
 * server and handed to its sessions: a chunk is encoded and written synchronously, so one buffer
 * serves them all. {@link take} hands out the buffer when it is free; {@link release} after the
 * `socket.write` takes it back only when the socket holds nothing (public API: the bytes were
 * written out), else the socket keeps it and a new one is made for the next chunk.
 */
export class OutputBuffer {
  readonly #capacity: number
  #buffer: Buffer | undefined
  #lent: Buffer | undefined

  constructor (capacityBytes = OUTPUT_BUFFER_BYTES) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 1) throw new TypeError(`capacityBytes must be a positive integer, got ${String(capacityBytes)}`)
    this.#capacity = capacityBytes
  }

  /** `size` bytes: a view of the reusable buffer when it is free and big enough, else a fresh buffer. */
  readonly take: Allocate = (size) => {
    if (this.#lent !== undefined || size > this.#capacity) return Buffer.allocUnsafe(size)
    this.#buffer ??= Buffer.allocUnsafeSlow(this.#capacity)
    this.#lent = this.#buffer.subarray(0, size)
    return this.#lent
  }

  /** Ends the loan of `bytes` after they were passed to `socket.write` (or dropped); anything else is ignored. */
  release (bytes: Buffer, socket: Drained | null): void {
    if (bytes !== this.#lent) return
    this.#lent = undefined
    // Still queued in the socket: the socket owns that memory now.
    if (socket !== null && socket.writableLength > 0) this.#buffer = undefined
  }

  /** True while a chunk's frames are in the buffer (for tests and checks). */
  get lent (): boolean {
    return this.#lent !== undefined
  }
}
