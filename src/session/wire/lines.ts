const EMPTY = Buffer.alloc(0)

/**
 * The lines found in one chunk of output, without a Buffer per line: most are byte ranges of the
 * chunk (in reusable arrays), a few (a line joined across chunks, replaced invalid UTF-8, a long
 * line's pieces) are Buffers of their own. Reused from chunk to chunk: a chunk is split and encoded
 * (or logged) synchronously, so a server's sessions share one (the server owns it and hands it to
 * them); users call {@link Lines.release} when done so no chunk stays referenced.
 */
export class Lines {
  count = 0
  /** Total payload bytes of all lines. */
  bytes = 0
  chunk: Buffer = EMPTY
  #starts = new Int32Array(1024)
  #ends = new Int32Array(1024)
  #own: Array<Buffer | undefined> = []

  /** Empties the list for a new chunk. */
  reset (chunk: Buffer): void {
    this.count = 0
    this.bytes = 0
    this.chunk = chunk
    this.#own.length = 0
  }

  /** Empties the list and lets go of the chunk and the lines' own buffers. */
  release (): void {
    this.reset(EMPTY)
  }

  /** Adds bytes `start` to `end` of the chunk as a line. */
  addRange (start: number, end: number): void {
    if (this.count === this.#starts.length) this.#grow()
    this.#starts[this.count] = start
    this.#ends[this.count] = end
    this.count++
    this.bytes += end - start
  }

  /** Adds a line held in its own buffer. */
  addOwn (line: Buffer): void {
    if (this.count === this.#starts.length) this.#grow()
    this.#own[this.count] = line
    this.#starts[this.count] = 0
    this.#ends[this.count] = line.length
    this.count++
    this.bytes += line.length
  }

  /** The source buffer of line `i`: the chunk, or the line's own buffer. */
  source (i: number): Buffer {
    return this.#own[i] ?? this.chunk
  }

  /** Where line `i` starts in {@link source}. */
  start (i: number): number {
    return this.#starts[i] as number
  }

  /** Where line `i` ends in {@link source}. */
  end (i: number): number {
    return this.#ends[i] as number
  }

  /** Line `i` as a Buffer (a view of the chunk, no copy). */
  line (i: number): Buffer {
    return this.source(i).subarray(this.start(i), this.end(i))
  }

  #grow (): void {
    const starts = new Int32Array(this.#starts.length * 2)
    const ends = new Int32Array(this.#ends.length * 2)
    starts.set(this.#starts)
    ends.set(this.#ends)
    this.#starts = starts
    this.#ends = ends
  }
}
