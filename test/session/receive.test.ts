import { EventEmitter, once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import type { ServerOptions, WebSocket } from 'ws'
import { FAST_RECEIVE_WS, FastReceive, receiveFast, serverWsVersion } from '../../src/session/receive.js'
import { DEADLINE_MS } from '../helpers/client.js'
import { closeCodeOf, frame } from '../helpers/raw.js'

/**
 * The ws the server runs on: the copy @fastify/websocket resolves (which builds the receivers the
 * fast path reads), not necessarily the top-level one. Every comparison below runs against it.
 */
const serverWs = createRequire(createRequire(import.meta.url).resolve('@fastify/websocket'))('ws') as typeof import('ws')
const { WebSocketServer } = serverWs

/**
 * A socket whose incoming chunks are exactly the ones pushed, one `data` event each. Emits
 * `close-frame` when the server has sent one.
 */
class Wire extends Duplex {
  readonly sent: Buffer[] = []
  override _read (): void {}
  override _write (chunk: Buffer, _encoding: string, done: () => void): void {
    this.sent.push(chunk)
    if (closeCodeOf(Buffer.concat(this.sent)) !== undefined) this.emit('close-frame')
    done()
  }
}

/** The client's close frame, 1000, that ends every stream fed to the server. */
const CLIENT_CLOSE = frame(0x8, Buffer.from([0x03, 0xe8]))

/** What a server-side ws connection did with a byte stream: its events, and the frames it sent back. */
interface Outcome {
  events: string[]
  replies: string
  closeCode: number | undefined
}

/** A ws server connection upgraded on a {@link Wire}. */
async function upgrade (options: ServerOptions = {}): Promise<{ ws: WebSocket, wire: Wire }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024, ...options })
  const wire = new Wire()
  const request = {
    method: 'GET',
    url: '/',
    headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }
  } as unknown as IncomingMessage
  const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(request, wire, Buffer.alloc(0), resolve))
  return { ws, wire }
}

/** How a message is recorded: its kind, the type ws gave it when not a Buffer, and its bytes. */
function describeMessage (data: Buffer | ArrayBuffer, isBinary: boolean): string {
  const kind = isBinary ? 'binary' : 'text'
  return Buffer.isBuffer(data) ? `${kind} ${data.toString('hex')}` : `${kind} (${data.constructor.name}) ${Buffer.from(data).toString('hex')}`
}

/**
 * Upgrades a ws server connection, optionally reads it with {@link receiveFast}, sets
 * `binaryType` if given (after, as an application could), feeds it `chunks` (copies: both ws and
 * the fast path unmask in place) and a close frame, ends the connection once the server has sent
 * its close frame, and records.
 */
async function feed (chunks: readonly Buffer[], fast: boolean, options: ServerOptions = {}, binaryType?: 'arraybuffer'): Promise<Outcome> {
  const { ws, wire } = await upgrade(options)
  if (fast && !receiveFast(ws)) throw new Error('ws does not have the receiver the fast path reads')
  if (binaryType !== undefined) ws.binaryType = binaryType
  const events: string[] = []
  ws.on('message', (data: Buffer | ArrayBuffer, isBinary: boolean) => events.push(describeMessage(data, isBinary)))
  ws.on('ping', (data) => events.push(`ping ${data.toString('hex')}`))
  ws.on('pong', (data) => events.push(`pong ${data.toString('hex')}`))
  ws.on('error', (err: NodeJS.ErrnoException) => events.push(`error ${err.code ?? ''}`))
  // once() on ws itself would reject at ws's 'error', which comes before its 'close'.
  const ended = new EventEmitter()
  ws.on('close', (code: number) => ended.emit('close', code))
  const closed = once(ended, 'close', { signal: AbortSignal.timeout(DEADLINE_MS) })
  const replied = once(wire, 'close-frame', { signal: AbortSignal.timeout(DEADLINE_MS) })
  for (const chunk of chunks) wire.push(Buffer.from(chunk))
  wire.push(Buffer.from(CLIENT_CLOSE))
  await replied
  wire.push(null)
  const [code] = await closed as [number]
  events.push(`close ${code}`)
  const out = Buffer.concat(wire.sent)
  return { events, replies: out.subarray(out.indexOf('\r\n\r\n') + 4).toString('hex'), closeCode: closeCodeOf(out) }
}

const text = (payload: string | Buffer): Buffer => frame(0x1, Buffer.from(payload))
const binary = (payload: Buffer): Buffer => frame(0x2, payload)

/** A masked frame whose length is written in the 16- or 64-bit form, whatever its size. */
function withLength (form: 16 | 64, opcode: number, payload: Buffer): Buffer {
  return frame(opcode, payload, { form })
}

const long = (opcode: number, payload: Buffer): Buffer => withLength(64, opcode, payload)

/** `bytes` cut every `size` bytes. */
function every (bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return chunks
}

/** Pseudo-random integers below `n`, from a fixed seed, so a failure repeats. */
function randomInts (seed: number): (n: number) => number {
  let state = seed
  return (n) => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state % n
  }
}

/** `bytes` cut at pseudo-random places, pieces of 1 to `largest` bytes. */
function scattered (bytes: Buffer, seed: number, largest = 97): Buffer[] {
  const random = randomInts(seed)
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length;) {
    const size = 1 + random(largest)
    chunks.push(bytes.subarray(at, at + size))
    at += size
  }
  return chunks
}

/**
 * Feeds `bytes` to ws alone and to ws with the fast path, whole and cut in many ways (which is
 * what TCP may do): with the same cuts, both must see the same events and send the same frames back. Returns what
 * ws alone did with the whole stream, for the test's own expectations.
 */
async function sameAsWs (t: Test, bytes: Buffer, options: ServerOptions = {}, binaryType?: 'arraybuffer'): Promise<Outcome> {
  const cuts: Record<string, Buffer[]> = {
    whole: [bytes],
    'cut every 3 bytes': every(bytes, 3),
    'cut every 1000 bytes': every(bytes, 1000),
    'cut at random 1': scattered(bytes, 1),
    'cut at random 2': scattered(bytes, 2)
  }
  if (bytes.length < 4096) cuts['cut every byte'] = every(bytes, 1)
  for (const [name, chunks] of Object.entries(cuts)) {
    t.same(await feed(chunks, true, options, binaryType), await feed(chunks, false, options, binaryType), name)
  }
  return await feed([bytes], false, options, binaryType)
}

t.test('plain frames: text and binary, empty, 7- and 16-bit lengths, multi-byte UTF-8', async (t) => {
  const long16 = Buffer.alloc(1000, 7)
  const bytes = Buffer.concat([
    text('hello'), binary(Buffer.from([0, 1, 2])), text(''), binary(Buffer.alloc(0)),
    text('x'.repeat(125)), text('y'.repeat(126)), binary(long16), text('é€😀')
  ])
  const ws = await sameAsWs(t, bytes)
  t.same(ws.events, [
    `text ${Buffer.from('hello').toString('hex')}`, 'binary 000102', 'text ', 'binary ',
    `text ${Buffer.from('x'.repeat(125)).toString('hex')}`, `text ${Buffer.from('y'.repeat(126)).toString('hex')}`,
    `binary ${long16.toString('hex')}`, `text ${Buffer.from('é€😀').toString('hex')}`, 'close 1000'
  ], 'every message, in order, then the client\'s close')
})

t.test('control frames between messages; nothing is read after a close frame', async (t) => {
  const bytes = Buffer.concat([
    text('a'), frame(0x9, Buffer.from('p1')), text('b'), frame(0xa, Buffer.from('q')),
    frame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')])), text('after')
  ])
  const ws = await sameAsWs(t, bytes)
  t.same(ws.events, ['text 61', 'ping 7031', 'text 62', 'pong 71', 'close 1000'])
  t.match(ws.replies, /^8a027031/, 'the ping is answered')
  t.equal(ws.closeCode, 1000, 'the close is answered')
})

t.test('a fragmented message, with a ping inside, then plain frames again', async (t) => {
  const bytes = Buffer.concat([
    text('first'), frame(0x1, Buffer.from('he'), { fin: false }), frame(0x9, Buffer.alloc(0)),
    frame(0x0, Buffer.from('ll'), { fin: false }), frame(0x0, Buffer.from('o')), text('next')
  ])
  const ws = await sameAsWs(t, bytes)
  t.same(ws.events.map((e) => e.split(' ')[0] === 'text' ? Buffer.from(e.slice(5), 'hex').toString() : e), ['first', 'ping ', 'hello', 'next', 'close 1000'])
})

t.test('a frame with a 64-bit length goes to ws, and plain frames after it do not', async (t) => {
  const bytes = Buffer.concat([text('before'), long(0x2, Buffer.alloc(300, 1)), text('after'), binary(Buffer.from([9]))])
  const ws = await sameAsWs(t, bytes)
  t.equal(ws.events.length, 5)
  t.equal(ws.events[1], `binary ${Buffer.alloc(300, 1).toString('hex')}`)
  const big = Buffer.concat([binary(Buffer.alloc(65535, 2)), long(0x2, Buffer.alloc(70_000, 3)), text('end')])
  const unlimited = await sameAsWs(t, big, { maxPayload: 0 })
  t.same(unlimited.events.map((e) => e.length), [7 + 2 * 65535, 7 + 2 * 70_000, 11, 10], 'largest 16-bit frame, a 64-bit one, then a small one')
})

t.test('invalid UTF-8 in a plain frame: 1007 from ws, after the messages before it', async (t) => {
  const ws = await sameAsWs(t, Buffer.concat([text('ok'), text(Buffer.from([0xff, 0xfe])), text('never')]))
  t.same(ws.events, ['text 6f6b', 'error WS_ERR_INVALID_UTF8', 'close 1006'])
  t.equal(ws.closeCode, 1007)
})

t.test('messages over the size limit: 1009 from ws', async (t) => {
  const short = await sameAsWs(t, Buffer.concat([text('ok'), text('z'.repeat(101)), text('never')]), { maxPayload: 100 })
  t.same(short.events, ['text 6f6b', 'error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'close 1006'])
  t.equal(short.closeCode, 1009)
  const medium = await sameAsWs(t, Buffer.concat([text('z'.repeat(200)), text('z'.repeat(300))]), { maxPayload: 200 })
  t.equal(medium.events[1], 'error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
  t.equal(medium.closeCode, 1009)
  const huge = Buffer.alloc(14)
  huge[0] = 0x82
  huge[1] = 0xff
  huge.writeBigUInt64BE(2n ** 60n, 2)
  const declared = await sameAsWs(t, Buffer.concat([text('ok'), huge]), { maxPayload: 0 })
  t.same(declared.events, ['text 6f6b', 'error WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 'close 1006'])
})

t.test('protocol errors: 1002 from ws, after the messages before them', async (t) => {
  const cases: Array<[string, Buffer, string]> = [
    ['an unmasked frame', frame(0x1, Buffer.from('no'), { mask: false }), 'WS_ERR_EXPECTED_MASK'],
    ['RSV1 without compression', frame(0x1, Buffer.from('r'), { rsv: 4 }), 'WS_ERR_UNEXPECTED_RSV_1'],
    ['an unknown opcode', frame(0x3, Buffer.from('?')), 'WS_ERR_INVALID_OPCODE'],
    ['a continuation with nothing to continue', frame(0x0, Buffer.from('c')), 'WS_ERR_INVALID_OPCODE'],
    ['a close frame of one byte', frame(0x8, Buffer.from([3])), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH']
  ]
  for (const [name, bad, code] of cases) {
    const ws = await sameAsWs(t, Buffer.concat([text('ok'), bad, text('never')]))
    t.same(ws.events, ['text 6f6b', `error ${code}`, 'close 1006'], name)
    t.equal(ws.closeCode, 1002, name)
  }
})

t.test('binary messages follow binaryType, even when it changes after the fast path is installed', async (t) => {
  const ws = await sameAsWs(t, Buffer.concat([binary(Buffer.from([1, 2])), text('t')]), {}, 'arraybuffer')
  t.same(ws.events, ['binary (ArrayBuffer) 0102', 'text 74', 'close 1000'])
})

t.test('random streams of every kind of frame, cut at random: the same as ws alone', async (t) => {
  const random = randomInts(7)
  for (let stream = 0; stream < 150; stream++) {
    const maxPayload = [0, 125, 126, 1000][random(4)] as number
    const frames = Array.from({ length: 1 + random(12) }, () => {
      const size = [0, 1, 5, 124, 125, 126, 127, 999, 1000, 1001, 300, 2000][random(12)] as number
      const payload = Buffer.alloc(size, 0x61 + random(3))
      switch (random(12)) {
        case 0: return frame(0x9, Buffer.from('p'))
        case 1: return frame(0xa, Buffer.alloc(0))
        case 2: return frame(0x1, Buffer.from('fr'), { fin: false })
        case 3: return frame(0x0, Buffer.from('ag'), { fin: random(2) === 0 })
        case 4: return withLength(64, 0x2, payload)
        case 5: return frame(0x1, Buffer.from([0xe2, 0x82]))
        case 6: return withLength(16, 0x1, payload)
        case 7: return frame(0x2, payload, { mask: random(10) !== 0 })
        case 8: return random(8) === 0 ? frame(0x8, Buffer.from([0x03, 0xe8])) : binary(Buffer.from('z'))
        default: return frame(1 + random(2), payload)
      }
    })
    const chunks = scattered(Buffer.concat(frames), stream, random(2) === 0 ? 7 : 400)
    const options = { maxPayload }
    t.same(await feed(chunks, true, options), await feed(chunks, false, options), `stream ${stream}: ${frames.length} frames, limit ${maxPayload}`)
  }
})

t.test('a listener that throws: reading goes on from the next frame', async (t) => {
  const { ws } = await upgrade()
  t.equal(receiveFast(ws), true)
  const got: string[] = []
  ws.on('message', (data: Buffer) => {
    got.push(data.toString())
    if (data.toString() === 'two') throw new Error('listener failed')
  })
  const stream = Buffer.concat([text('one'), text('two'), text('three'), text('four')])
  const cut = stream.length - 3
  // What the socket's data listener does, so the error reaches this test instead of the process.
  const receiver = (ws as unknown as { _receiver: { write: (chunk: Buffer) => boolean } })._receiver
  t.throws(() => receiver.write(stream.subarray(0, cut)), /listener failed/, 'the error reaches the caller, as with ws')
  t.equal(receiver.write(stream.subarray(cut)), true)
  t.same(got, ['one', 'two', 'three', 'four'], 'the frames after the failed one are read whole')
  ws.terminate()
})

t.test('a receiver that is not the one the fast path reads is left to ws', async (t) => {
  t.equal(receiveFast({} as WebSocket), false, 'no receiver')
  const unsynchronous = await upgrade({ allowSynchronousEvents: false })
  t.equal(receiveFast(unsynchronous.ws), false, 'ws delivering one message per tick')
  unsynchronous.ws.terminate()
  const tight = await upgrade({ maxBufferedChunks: 4 })
  t.equal(receiveFast(tight.ws), false, 'a limit on buffered pieces that a kept frame could reach')
  tight.ws.terminate()
  const unlimited = await upgrade({ maxBufferedChunks: 0 })
  t.equal(receiveFast(unlimited.ws), true, 'no limit on buffered pieces')
  unlimited.ws.terminate()
  const client = await upgrade()
  const receiver = (client.ws as unknown as { _receiver: { _isServer: boolean } })._receiver
  receiver._isServer = false
  t.equal(receiveFast(client.ws), false, 'a client\'s receiver, which refuses masked frames')
  receiver._isServer = true
  ;(client.ws as unknown as { _receiver: EventEmitter })._receiver.removeAllListeners('message')
  t.equal(receiveFast(client.ws), false, 'a receiver whose messages nobody listens to')
  client.ws.terminate()
})

t.test('a frame arriving in many reads is joined once, not copied again on every read', async (t) => {
  const { ws } = await upgrade({ maxPayload: 0 })
  t.equal(receiveFast(ws), true)
  const got: Buffer[] = []
  ws.on('message', (data: Buffer) => got.push(data))
  const payload = Buffer.alloc(65_535, 0x61)
  const bytes = Buffer.concat([withLength(16, 0x2, payload), text('next')])
  const receiver = (ws as unknown as { _receiver: { write: (chunk: Buffer) => boolean } })._receiver
  const reads = every(bytes, 1460).map((chunk) => Buffer.from(chunk))
  const joined = t.capture(Buffer, 'concat', Buffer.concat.bind(Buffer))
  const copied = t.capture(Buffer, 'from', Buffer.from.bind(Buffer))
  for (const chunk of reads) receiver.write(chunk)
  const joins = joined()
  const copies = copied().filter((c) => Buffer.isBuffer(c.args[0]))
  t.same(got, [payload, Buffer.from('next')])
  t.equal(joins.length, 1, 'one join')
  const bytesCopied = [...joins, ...copies].reduce((sum, c) => sum + ('returned' in c ? (c.returned as Buffer).length : 0), 0)
  t.ok(bytesCopied <= 2 * bytes.length, `${bytesCopied} bytes copied for a ${bytes.length}-byte frame`)
  ws.terminate()
})

t.test('the fast path runs only on the ws version it was written for', async (t) => {
  const version = serverWsVersion()
  t.equal(version, (createRequire(createRequire(import.meta.url).resolve('@fastify/websocket'))('ws/package.json') as { version: string }).version, 'the version of the ws the server uses')
  t.match(version, FAST_RECEIVE_WS, 'the installed ws is the one the fast path was written for')

  const reasons: string[] = []
  const on = new FastReceive((reason) => reasons.push(reason))
  t.equal(on.active, true)
  const { ws } = await upgrade()
  t.equal(on.attach(ws), true, 'reads a connection of the server\'s ws')
  ws.terminate()
  t.same(reasons, [])

  const other = new FastReceive((reason) => reasons.push(reason), '8.24.0')
  t.equal(other.active, false, 'off for another version')
  t.same(reasons, ['ws 8.24.0 is not the version the fast path was written for (8.23.x)'], 'said once, at the start')
  const second = await upgrade()
  t.equal(other.attach(second.ws), false, 'connections are left to ws')
  second.ws.terminate()
  t.equal(reasons.length, 1)

  reasons.length = 0
  const shape = new FastReceive((reason) => reasons.push(reason))
  t.equal(shape.attach({} as WebSocket), false, 'a receiver of another shape')
  t.equal(shape.active, false, 'off from then on')
  const third = await upgrade()
  t.equal(shape.attach(third.ws), false)
  third.ws.terminate()
  t.same(reasons, ['the ws receiver does not have the shape the fast path reads'], 'said once')
})
