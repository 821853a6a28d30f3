import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import t from 'tap'
import { BinaryFraming, TextFraming, type Encoded, type Framing, type StreamName } from '../../../src/session/wire/framing.js'
import { Lines } from '../../../src/session/wire/lines.js'
import { OutputBuffer } from '../../../src/session/wire/output-buffer.js'
import { decodeFrames } from '../../helpers/receiver.js'

const drained = { writableLength: 0 }
const CHUNK_SIZES = [1, 2, 3, 7, 100, 1023, 4096, 65_536]

t.test('take lends the one buffer while it is free, release takes it back only from a drained socket', async (t) => {
  const out = new OutputBuffer(1024)
  const a = out.take(100)
  t.equal(a.length, 100)
  t.ok(out.lent)
  const b = out.take(100)
  t.not(b.buffer, a.buffer, 'a second take while lent gets fresh memory')
  out.release(b, drained)
  t.ok(out.lent, 'releasing a buffer that was not lent changes nothing')
  out.release(a, drained)
  t.notOk(out.lent)
  const c = out.take(1024)
  t.equal(c.buffer, a.buffer, 'the same memory again')
  t.equal(c.byteOffset, a.byteOffset)
  out.release(c, { writableLength: 5 })
  t.notOk(out.lent)
  const d = out.take(10)
  t.not(d.buffer, a.buffer, 'a buffer still queued in the socket is never handed out again')
  out.release(d, null)
  t.equal(out.take(10).buffer, d.buffer, 'a dropped chunk (no socket write) gives the buffer back')
  const big = new OutputBuffer(16)
  const e = big.take(17)
  t.equal(e.length, 17)
  t.notOk(big.lent, 'bigger than the buffer: fresh memory, nothing lent')
  t.throws(() => new OutputBuffer(0), TypeError)
  t.throws(() => new OutputBuffer(1.5), /capacityBytes must be a positive integer, got 1.5/)
})

/** Output with every framing case: short and empty lines, CRLF, UTF-8 split anywhere, invalid UTF-8, over-long lines. */
function sampleOutput (): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; i < 300; i++) {
    parts.push(Buffer.from(`line ${i} ${'x'.repeat(i * 7 % 300)}\n`))
    if (i % 17 === 0) parts.push(Buffer.from('\n'))
    if (i % 23 === 0) parts.push(Buffer.from('crlf €𝄞 ü\r\n'))
    if (i % 31 === 0) parts.push(Buffer.from([0x61, 0xff, 0xc3, 0x0a, 0xe2, 0x82, 0x0a]))
    if (i % 97 === 0) parts.push(Buffer.from(`${'long€'.repeat(5000)}\n`))
  }
  parts.push(Buffer.from('last line without newline é'))
  return Buffer.concat(parts)
}

interface Message { data: string, isBinary: boolean }

/** Feeds `input` in chunks of `size` bytes, decoding every chunk's frames before the buffer can be reused. */
function frameAll (framing: Framing, input: Buffer, size: number, out: OutputBuffer | undefined, stream: StreamName): { messages: Message[], counted: number } {
  const messages: Message[] = []
  let counted = 0
  const collect = (encoded: Encoded | null): void => {
    if (encoded === null) return
    counted += encoded.messages
    // Copy first: ws's parser may return views of its input.
    for (const m of decodeFrames(Buffer.from(encoded.bytes))) messages.push({ data: m.data.toString('hex'), isBinary: m.isBinary })
    out?.release(encoded.bytes, drained)
  }
  for (let at = 0; at < input.length; at += size) collect(framing.encode(input.subarray(at, at + size), stream))
  collect(framing.flush(stream))
  return { messages, counted }
}

t.test('text framing into the reused buffer keeps every framing rule for chunks of 1 byte to 64 KiB', async (t) => {
  const input = sampleOutput()
  const expected = frameAll(new TextFraming(4096, false, new Lines()), input, input.length, undefined, 'stdout').messages
  t.ok(expected.length > 300)
  t.ok(expected.some((m) => m.data === Buffer.from('a\ufffd\ufffd').toString('hex')), 'invalid UTF-8 is repaired')
  t.ok(expected.every((m) => m.data.length / 2 <= 4096), 'no message over maxLineBytes')
  for (const size of CHUNK_SIZES) {
    const out = new OutputBuffer()
    for (const stream of ['stdout', 'stderr'] as const) {
      const got = frameAll(new TextFraming(4096, false, new Lines(), out.take), input, size, out, stream)
      t.same(got.messages, expected, `${size}-byte chunks on ${stream}: the same messages`)
      t.equal(got.counted, expected.length)
    }
    t.notOk(out.lent)
  }
})

t.test('tagged text framing into the reused buffer', async (t) => {
  const input = Buffer.from('a\nb "q"\n')
  const out = new OutputBuffer()
  const got = frameAll(new TextFraming(1024, true, new Lines(), out.take), input, 1, out, 'stderr')
  t.same(got.messages.map((m) => JSON.parse(Buffer.from(m.data, 'hex').toString())), [{ stream: 'stderr', data: 'a' }, { stream: 'stderr', data: 'b "q"' }])
})

t.test('binary framing into the reused buffer: one chunk, one message, bytes unchanged', async (t) => {
  const input = sampleOutput()
  for (const size of CHUNK_SIZES) {
    const out = new OutputBuffer()
    const got = frameAll(new BinaryFraming(out.take), input, size, out, 'stdout')
    t.equal(got.messages.length, Math.ceil(input.length / size), `${size}-byte chunks`)
    t.ok(got.messages.every((m) => m.isBinary))
    t.equal(got.messages.map((m) => m.data).join(''), input.toString('hex'))
  }
})

t.test('frames written to a real socket arrive intact whether the socket drains at once or queues them', async (t) => {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const client = connect((server.address() as { port: number }).port, '127.0.0.1')
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  const [peer] = await accepted
  t.teardown(() => peer.destroy())
  peer.pause()
  const received: Buffer[] = []
  peer.on('data', (chunk: Buffer) => received.push(chunk))
  const out = new OutputBuffer()
  const framing = new BinaryFraming(out.take)
  const sent: Buffer[] = []
  let reused = 0
  let queued = false
  let first: ArrayBufferLike | undefined
  // Write until the socket queues (the peer is not reading), then some more.
  for (let i = 0; i < 4000 && !(queued && sent.length > 200); i++) {
    const chunk = Buffer.alloc(16 * 1024, i % 251)
    sent.push(chunk)
    const encoded = framing.encode(chunk)
    first ??= encoded.bytes.buffer
    if (encoded.bytes.buffer === first) reused++
    client.write(encoded.bytes)
    out.release(encoded.bytes, client)
    if (client.writableLength > 0) queued = true
  }
  t.ok(queued, 'the socket queued frames')
  t.ok(reused > 1, 'the buffer was reused while the socket drained at once')
  client.end()
  peer.resume()
  await once(peer, 'end', { signal: AbortSignal.timeout(30_000) })
  const messages = decodeFrames(Buffer.concat(received))
  t.equal(messages.length, sent.length)
  t.ok(messages.every((m, i) => m.data.equals(sent[i] as Buffer)), 'every frame arrived as it was encoded')
})
