import { createHash, randomBytes, randomFillSync } from 'node:crypto'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const HEADER_END = Buffer.from('\r\n\r\n')
/** Bytes of random mask keys drawn at once, so masking costs no syscall per frame. */
const MASK_POOL_BYTES = 64 * 1024

/** WebSocket opcodes used by the bench clients (RFC 6455 §5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa
} as const

/** Builds the HTTP/1.1 upgrade request for `path`; returns it with the key whose accept value to expect. */
export function buildUpgradeRequest (host: string, port: number, path: string): { request: string, expectedAccept: string } {
  const key = randomBytes(16).toString('base64')
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://${host}:${port}\r\n\r\n`
  const expectedAccept = createHash('sha1').update(key + WS_GUID).digest('base64')
  return { request, expectedAccept }
}

/**
 * Parses the upgrade response at the start of `buf`. Returns null until the header is complete,
 * otherwise the offset where frames begin. Throws if the status is not 101 or the accept key is wrong.
 */
export function parseUpgradeResponse (buf: Buffer, expectedAccept: string): { bodyOffset: number } | null {
  const end = buf.indexOf(HEADER_END)
  if (end === -1) {
    if (buf.length > 16 * 1024) throw new Error('upgrade response header larger than 16 KiB')
    return null
  }
  const head = buf.subarray(0, end).toString('latin1')
  const [statusLine = '', ...lines] = head.split('\r\n')
  if (!/^HTTP\/1\.1 101 /.test(statusLine)) throw new Error(`upgrade refused: ${JSON.stringify(statusLine)}`)
  const accept = lines.find((line) => line.toLowerCase().startsWith('sec-websocket-accept:'))
  if (accept?.slice(accept.indexOf(':') + 1).trim() !== expectedAccept) {
    throw new Error('upgrade response has a wrong Sec-WebSocket-Accept')
  }
  return { bodyOffset: end + HEADER_END.length }
}

/** Writes random mask keys from a pooled buffer; one 4-byte key per frame. */
class MaskPool {
  private pool = Buffer.alloc(MASK_POOL_BYTES)
  private offset = MASK_POOL_BYTES

  /** Copies the next 4-byte key into `target` at `at`. */
  writeKey (target: Buffer, at: number): void {
    if (this.offset + 4 > MASK_POOL_BYTES) {
      randomFillSync(this.pool)
      this.offset = 0
    }
    this.pool.copy(target, at, this.offset, this.offset + 4)
    this.offset += 4
  }
}

const maskPool = new MaskPool()

/** Size in bytes of a masked client frame carrying `payloadLength` bytes. */
export function maskedFrameLength (payloadLength: number): number {
  const lengthBytes = payloadLength < 126 ? 0 : payloadLength < 65536 ? 2 : 8
  return 2 + lengthBytes + 4 + payloadLength
}

/** Encodes one masked client frame (FIN set) into `target` at `at`; returns the offset after it. */
export function writeMaskedFrame (target: Buffer, at: number, opcode: number, payload: Buffer): number {
  let pos = at
  target[pos++] = 0x80 | opcode
  const length = payload.length
  if (length < 126) {
    target[pos++] = 0x80 | length
  } else if (length < 65536) {
    target[pos++] = 0x80 | 126
    target.writeUInt16BE(length, pos)
    pos += 2
  } else {
    target[pos++] = 0x80 | 127
    target.writeBigUInt64BE(BigInt(length), pos)
    pos += 8
  }
  maskPool.writeKey(target, pos)
  const keyAt = pos
  pos += 4
  for (let i = 0; i < length; i++) {
    target[pos + i] = (payload[i] as number) ^ (target[keyAt + (i & 3)] as number)
  }
  return pos + length
}

/** Encodes one masked client frame into a new buffer. */
export function encodeMaskedFrame (opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(maskedFrameLength(payload.length))
  writeMaskedFrame(frame, 0, opcode, payload)
  return frame
}

/**
 * Encodes text `payloads` as masked frames packed into buffers of about `chunkBytes` each,
 * so a sender can write many frames per syscall.
 */
export function encodeMaskedBatch (payloads: readonly Buffer[], chunkBytes = 64 * 1024): Buffer[] {
  const chunks: Buffer[] = []
  let current = Buffer.allocUnsafe(chunkBytes)
  let used = 0
  for (const payload of payloads) {
    const size = maskedFrameLength(payload.length)
    if (used + size > current.length) {
      if (used > 0) chunks.push(current.subarray(0, used))
      current = Buffer.allocUnsafe(Math.max(chunkBytes, size))
      used = 0
    }
    used = writeMaskedFrame(current, used, Opcode.text, payload)
  }
  if (used > 0) chunks.push(current.subarray(0, used))
  return chunks
}

/**
 * Receives the events of a {@link FrameParser}. `onMessage` is optional: counting alone allocates nothing.
 * Payloads are views into the chunk being parsed: valid only during the call.
 */
export interface FrameSink {
  onMessage?: ((payload: Buffer) => void) | undefined
  onControl: (opcode: number, payload: Buffer) => void
}

/** The longest server frame header: 2 bytes and a 64-bit length. */
const MAX_HEADER_BYTES = 10

/**
 * Incremental parser of unmasked server frames. Parses every complete frame of each chunk in one
 * pass and keeps only the incomplete tail. Counts data messages and their payload bytes.
 */
export class FrameParser {
  /** Complete data messages received (a fragmented message counts once, at its final frame). */
  messages = 0
  /** Payload bytes of data frames received. */
  payloadBytes = 0
  /** The incomplete frame kept from earlier chunks, as copies of the reads it came in, joined once complete. */
  private readonly pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes the kept frame needs in all (0 while its header is incomplete: joined at the next read). */
  private neededBytes = 0
  private fragments: Buffer[] = []

  constructor (private readonly sink: FrameSink) {}

  /** Feeds one chunk from the socket; the chunk may be reused once this returns. Throws on a masked or oversized frame. */
  push (chunk: Buffer): void {
    let from = 0
    // A frame kept from earlier reads is completed with only the bytes it lacks (or, while its
    // header is incomplete, enough for any header): copying the whole read into fresh memory
    // cost the client more CPU than the server it measures.
    while (this.pendingBytes !== 0 && from < chunk.length) {
      const want = this.neededBytes === 0 ? MAX_HEADER_BYTES : this.neededBytes - this.pendingBytes
      const take = Math.min(want, chunk.length - from)
      // Copied: the caller may reuse the chunk's memory for the next read.
      this.pending.push(Buffer.from(chunk.subarray(from, from + take)))
      this.pendingBytes += take
      from += take
      if (this.neededBytes !== 0 && this.pendingBytes < this.neededBytes) return
      const kept = Buffer.concat(this.pending, this.pendingBytes)
      this.pending.length = 0
      this.pendingBytes = 0
      this.parse(kept)
    }
    if (from < chunk.length) this.parse(from === 0 ? chunk : chunk.subarray(from))
  }

  /** Parses the frames of `buf`; an incomplete last frame is kept (copied) for the next chunk. */
  private parse (buf: Buffer): void {
    let needed = 0
    const sink = this.sink
    let pos = 0
    const end = buf.length
    while (end - pos >= 2) {
      const b0 = buf[pos] as number
      const b1 = buf[pos + 1] as number
      if ((b1 & 0x80) !== 0) throw new Error('server frame is masked')
      let length = b1 & 0x7f
      let headerLength = 2
      if (length === 126) {
        if (end - pos < 4) break
        length = buf.readUInt16BE(pos + 2)
        headerLength = 4
      } else if (length === 127) {
        if (end - pos < 10) break
        const big = buf.readBigUInt64BE(pos + 2)
        if (big > 256n * 1024n * 1024n) throw new Error(`server frame of ${big} bytes is over the bench limit`)
        length = Number(big)
        headerLength = 10
      }
      const frameEnd = pos + headerLength + length
      if (frameEnd > end) {
        needed = frameEnd - pos
        break
      }
      const opcode = b0 & 0x0f
      const fin = (b0 & 0x80) !== 0
      if (opcode >= 0x8) {
        sink.onControl(opcode, buf.subarray(pos + headerLength, frameEnd))
      } else {
        this.payloadBytes += length
        if (sink.onMessage !== undefined) {
          const payload = buf.subarray(pos + headerLength, frameEnd)
          if (!fin || this.fragments.length > 0) {
            this.fragments.push(Buffer.from(payload))
            if (fin) {
              sink.onMessage(Buffer.concat(this.fragments))
              this.fragments = []
            }
          } else {
            sink.onMessage(payload)
          }
        }
        if (fin) this.messages++
      }
      pos = frameEnd
    }
    // Copied: the caller may reuse the chunk's memory for the next read.
    if (pos < end) {
      this.pending.push(Buffer.from(buf.subarray(pos)))
      this.pendingBytes = end - pos
      this.neededBytes = needed
    }
  }
}
