import type { Lines } from './lines.js'
import type { Allocate } from './output-buffer.js'

/** WebSocket opcodes of data frames (RFC 6455 §5.2). */
export const Opcode = Object.freeze({ TEXT: 0x1, BINARY: 0x2 })

function headerBytes (length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10
}

function writeHeader (out: Buffer, at: number, length: number, opcode: number): number {
  out[at++] = 0x80 | opcode
  if (length < 126) {
    out[at++] = length
  } else if (length < 65_536) {
    out[at++] = 126
    out.writeUInt16BE(length, at)
    at += 2
  } else {
    out[at++] = 127
    out.writeUInt32BE(Math.floor(length / 0x1_0000_0000), at)
    out.writeUInt32BE(length >>> 0, at + 4)
    at += 8
  }
  return at
}

/**
 * Encodes payloads as unmasked, final server-to-client frames in one buffer, so that all the
 * messages of one chunk of output cost one socket write. Text payloads must be valid UTF-8.
 * `alloc` provides the buffer (a reused one: see OutputBuffer).
 */
export function encodeFrames (payloads: readonly Buffer[], opcode: number, alloc: Allocate = Buffer.allocUnsafe): Buffer {
  let size = 0
  for (const p of payloads) size += headerBytes(p.length) + p.length
  const out = alloc(size)
  let at = 0
  for (const p of payloads) {
    at = writeHeader(out, at, p.length, opcode)
    at += p.copy(out, at)
  }
  return out
}

/** Encodes every line of `lines` as one text frame, copied straight from where it lies, into a buffer from `alloc`. */
export function encodeLines (lines: Lines, alloc: Allocate = Buffer.allocUnsafe): Buffer {
  const count = lines.count
  let size = lines.bytes
  for (let i = 0; i < count; i++) size += headerBytes(lines.end(i) - lines.start(i))
  const out = alloc(size)
  let at = 0
  for (let i = 0; i < count; i++) {
    const start = lines.start(i)
    const end = lines.end(i)
    at = writeHeader(out, at, end - start, Opcode.TEXT)
    at += lines.source(i).copy(out, at, start, end)
  }
  return out
}
