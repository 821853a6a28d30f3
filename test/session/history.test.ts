import t from 'tap'
import { History, skipFrames } from '../../src/session/history.js'
import { encodeFrames, Opcode } from '../../src/session/wire/frames.js'

// The output history of shared programs: messages numbered, frames kept as encoded.

function chunk (...payloads: string[]) {
  const buffers = payloads.map((p) => Buffer.from(p))
  return { bytes: encodeFrames(buffers, Opcode.TEXT), messages: buffers.length, payloadBytes: 0 }
}

t.test('positions, pieces from any message, replay starts and trimming', async (t) => {
  const h = new History()
  t.same(h.since(0), [], 'nothing yet')
  t.equal(h.position(0), 0)
  t.equal(h.replayStart(100), 0)
  h.append(chunk('aa', 'bb', 'cc'))
  h.append(chunk('dd'))
  t.equal(h.endSeq, 4)
  t.equal(h.endByte, 16)
  t.equal(h.position(2), 8, 'inside a chunk')
  t.equal(h.position(3), 12)
  t.equal(h.position(4), 16, 'the end')
  t.same(h.since(1).map((p) => [p.bytes.length, p.messages, p.seq, p.byte]), [[8, 2, 3, 12], [4, 1, 4, 16]])
  t.equal(h.replayStart(0), 4)
  t.equal(h.replayStart(5), 3, 'one whole message of 4 bytes fits in 5')
  t.equal(h.replayStart(9), 2, 'a message is never cut: 8 of 9 bytes')
  t.equal(h.replayStart(1000), 0)
  h.trim(1, 0)
  t.equal(h.replayStart(1000), 0, 'a chunk holding a needed message is kept')
  h.trim(3, 4)
  t.equal(h.replayStart(1000), 3, 'the first chunk dropped')
  t.same(h.since(3).length, 1)
  for (let i = 0; i < 200; i++) h.append(chunk(`m${i}`))
  h.trim(h.endSeq, 0)
  t.same(h.since(h.endSeq), [], 'all dropped')
  h.append(chunk('x'))
  t.equal(h.since(h.endSeq - 1).length, 1, 'and kept again after the batch removal')
})

t.test('frame lengths of 16 and 64 bits are skipped', async (t) => {
  const frames = encodeFrames([Buffer.alloc(200), Buffer.alloc(70_000), Buffer.alloc(1)], Opcode.BINARY)
  t.equal(skipFrames(frames, 1), 204)
  t.equal(skipFrames(frames, 2), 204 + 70_010)
  t.equal(skipFrames(frames, 3), frames.length)
})
