import { isUtf8 } from 'node:buffer'
import { createRequire } from 'node:module'
import type { WebSocket } from 'ws'

/** The ws releases whose receiver the fast path was written for and tested with (ws is pinned to them). */
export const FAST_RECEIVE_WS = /^8\.23\.[0-9]+$/

/**
 * The version of the ws that builds the server's receivers: the copy @fastify/websocket resolves
 * (its own nested one, if it has one), not necessarily the top-level one.
 */
export function serverWsVersion (): string {
  const fastifyWebsocket = createRequire(import.meta.url).resolve('@fastify/websocket')
  return (createRequire(fastifyWebsocket)('ws/package.json') as { version: string }).version
}

/**
 * Whether one server reads client frames with {@link receiveFast}: on when the ws that builds its
 * receivers is the version the fast path was written for, and as long as every receiver has the
 * expected shape. `onInactive` is called once, with the reason, when it is (or turns) off.
 */
export class FastReceive {
  #active = true
  readonly #onInactive: (reason: string) => void

  constructor (onInactive: (reason: string) => void, wsVersion = serverWsVersion()) {
    this.#onInactive = onInactive
    if (!FAST_RECEIVE_WS.test(wsVersion)) this.#off(`ws ${wsVersion} is not the version the fast path was written for (8.23.x)`)
  }

  /** True while connections are read with the fast path. */
  get active (): boolean {
    return this.#active
  }

  /** Reads `ws` with the fast path when it is on; false (and off from then on) when the receiver is not the expected one. */
  attach (ws: WebSocket): boolean {
    if (!this.#active) return false
    if (receiveFast(ws)) return true
    this.#off('the ws receiver does not have the shape the fast path reads')
    return false
  }

  #off (reason: string): void {
    this.#active = false
    this.#onInactive(reason)
  }
}

/**
 * The parts of ws 8's `Receiver` (a Writable fed by the socket's `data` listener) that the fast
 * path reads. They are private to ws, so {@link receiveFast} checks their shape first and leaves
 * the connection to ws alone when they differ.
 */
interface WsReceiver {
  write: (chunk: Buffer, ...rest: unknown[]) => boolean
  emit: (event: 'message', data: Buffer, isBinary: boolean) => boolean
  readonly writable: boolean
  readonly writableLength: number
  listenerCount: (event: 'message') => number
  _state: number
  _bufferedBytes: number
  _fragmented: number
  _maxPayload: number
  _maxBufferedChunks: number
  _skipUTF8Validation: boolean
  _allowSynchronousEvents: boolean
  _isServer: boolean
  _binaryType: string
}

/** ws's receiver state between frames. */
const GET_INFO = 0
/** The most pieces a kept frame can have arrived in (one byte each); ws's limit must be above it. */
const MAX_KEPT_PIECES = 8 + 0xffff
/** What an empty message is, as in ws: not a view that keeps a socket chunk alive. */
const EMPTY = Buffer.alloc(0)

/**
 * True for the receiver this was written for: a server's, emitting every message at once as a
 * Buffer to its WebSocket, without a limit on buffered pieces that a kept frame could reach.
 */
function isWsReceiver (value: unknown): value is WsReceiver {
  const r = value as Partial<WsReceiver> | undefined
  return typeof r?.write === 'function' && typeof r.emit === 'function' &&
    typeof r.listenerCount === 'function' && r.listenerCount('message') > 0 &&
    typeof r._state === 'number' && typeof r._bufferedBytes === 'number' &&
    typeof r._fragmented === 'number' && typeof r._maxPayload === 'number' &&
    typeof r._skipUTF8Validation === 'boolean' && typeof r._binaryType === 'string' &&
    r._allowSynchronousEvents === true && r._isServer === true &&
    (r._maxBufferedChunks === 0 || (r._maxBufferedChunks as number) > MAX_KEPT_PIECES)
}

/**
 * Reads the plain frames of a session's socket without ws's per-frame work: a client sending
 * many small messages (lines of input) would otherwise spend most of the server's time in ws's
 * Receiver, which makes several Buffer views per frame.
 *
 * A plain frame is a whole, final, masked text or binary frame with a 7- or 16-bit length
 * within ws's size limit: it is unmasked in place and emitted as ws itself emits it, a Buffer
 * view of the socket's chunk. An incomplete plain frame at the end of a chunk (at most 64 KiB,
 * and no more than the size limit) is kept, with the chunks that follow, until it is complete;
 * then they are joined once. Every other frame
 * (control, fragment, RSV bits, unmasked, too big, 64-bit length, invalid UTF-8) goes to ws's
 * receiver as it is, which keeps every protocol check, error and close code; while ws holds
 * part of a frame or message, or has ended, it gets everything that follows.
 *
 * This reads private fields of ws's receiver (ws is pinned to 8.23.x for it); the tests in
 * test/session/receive.test.ts feed ws with and without this path the same byte streams. Returns
 * false, leaving the connection to ws, when the receiver is not the one this was written for.
 */
export function receiveFast (ws: WebSocket): boolean {
  const receiver = (ws as unknown as { _receiver?: unknown })._receiver
  if (!isWsReceiver(receiver)) return false
  const write = receiver.write.bind(receiver)
  // The incomplete plain frame kept from earlier chunks, as the pieces it arrived in (joined once,
  // when it is complete: a frame in many small reads costs time linear in its size), their total
  // length, and the length the frame needs (0 while its header is incomplete: joined at once).
  const kept: Buffer[] = []
  let keptBytes = 0
  let neededBytes = 0
  const keep = (rest: Buffer): void => {
    kept.push(rest)
    keptBytes = rest.length
    neededBytes = frameEnd(rest, 0)
  }
  receiver.write = (data: Buffer): boolean => {
    let chunk = data
    if (keptBytes !== 0) {
      kept.push(data)
      keptBytes += data.length
      if (keptBytes < neededBytes) return true
      chunk = Buffer.concat(kept, keptBytes)
      kept.length = 0
      keptBytes = 0
    }
    const size = chunk.length
    let at = 0
    while (at < size) {
      if (!receiver.writable || holding(receiver)) return write(at === 0 ? chunk : chunk.subarray(at))
      const end = frameEnd(chunk, at)
      const plain = isPlain(receiver, chunk, at)
      if (end === 0 || end > size) {
        if (!plain) return write(chunk.subarray(at))
        // At most a 16-bit length's frame within the size limit; a copy, so the rest of a large
        // chunk is not kept alive by it.
        keep(Buffer.from(chunk.subarray(at)))
        return true
      }
      const start = at
      at = end
      const message = plain ? payload(receiver, chunk, start, end) : undefined
      if (message === undefined) {
        const written = write(chunk.subarray(start, end))
        // After a close frame or an error, ws ignores the rest of what it was given, and so does this.
        if (!receiver.writable) return written
        continue
      }
      try {
        receiver.emit('message', message, chunk[start] === 0x82)
      } catch (err) {
        // A listener threw: what follows its frame is kept, so reading stays in step.
        if (at < size) keep(Buffer.from(chunk.subarray(at)))
        throw err
      }
    }
    return true
  }
  return true
}

/** True while ws's receiver holds part of a frame or of a fragmented message. */
function holding (r: WsReceiver): boolean {
  return r._state !== GET_INFO || r._bufferedBytes !== 0 || r._fragmented !== 0 || r.writableLength !== 0
}

/**
 * Where the frame starting at `at` ends (it may be past the chunk), or 0 when its header is not
 * all there yet.
 */
function frameEnd (chunk: Buffer, at: number): number {
  const available = chunk.length - at
  if (available < 2) return 0
  const b1 = chunk[at + 1] as number
  const lengthBits = b1 & 0x7f
  const mask = b1 >= 0x80 ? 4 : 0
  if (lengthBits < 126) return available < 2 + mask ? 0 : at + 2 + mask + lengthBits
  if (lengthBits === 126) return available < 4 + mask ? 0 : at + 4 + mask + chunk.readUInt16BE(at + 2)
  // 64-bit length: ws reads, checks and refuses these itself.
  return available < 10 + mask ? 0 : at + 10 + mask + chunk.readUInt32BE(at + 2) * 2 ** 32 + chunk.readUInt32BE(at + 6)
}

/** True when what is there of the frame at `at` is a plain frame's start (see {@link receiveFast}). */
function isPlain (r: WsReceiver, chunk: Buffer, at: number): boolean {
  const b0 = chunk[at] as number
  // FIN set, RSV clear, opcode text or binary (binary only while ws emits Buffers).
  if (b0 !== 0x81 && (b0 !== 0x82 || r._binaryType !== 'nodebuffer')) return false
  if (chunk.length - at < 2) return true
  const b1 = chunk[at + 1] as number
  // MASK set, a 7- or 16-bit length, within ws's limit (0: none).
  if (b1 < 0x80 || b1 === 0xff) return false
  const max = r._maxPayload
  if (max === 0) return true
  if (b1 !== 0xfe) return b1 - 0x80 <= max
  return chunk.length - at < 4 || chunk.readUInt16BE(at + 2) <= max
}

/**
 * The unmasked payload of the plain frame from `at` to `end`, or undefined, with the frame masked
 * again, when it is text that is not valid UTF-8: ws reads it and refuses it with its own 1007.
 */
function payload (r: WsReceiver, chunk: Buffer, at: number, end: number): Buffer | undefined {
  const start = (chunk[at + 1] as number) === 0xfe ? at + 8 : at + 6
  if (start === end) return EMPTY
  unmask(chunk, start, end)
  const data = chunk.subarray(start, end)
  if (chunk[at] === 0x81 && !r._skipUTF8Validation && !isUtf8(data)) {
    unmask(chunk, start, end)
    return undefined
  }
  return data
}

/** XORs a payload with the 4-byte key just before it; applied twice it restores the bytes. */
function unmask (chunk: Buffer, start: number, end: number): void {
  const key = start - 4
  for (let i = start; i < end; i++) chunk[i] = (chunk[i] as number) ^ (chunk[key + ((i - start) & 3)] as number)
}
