import t from 'tap'
import { encodeFrames, Opcode } from '../../../src/session/wire/frames.js'
import { decodeFrames as decode } from '../../helpers/receiver.js'

t.test('frames of every length class decode with ws', async (t) => {
  const payloads = [Buffer.alloc(0), Buffer.from('short'), Buffer.alloc(125, 1), Buffer.alloc(126, 2), Buffer.alloc(65_535, 3), Buffer.alloc(65_536, 4), Buffer.alloc(200_000, 5)]
  const bytes = encodeFrames(payloads, Opcode.BINARY)
  t.equal(bytes.length, 2 + (2 + 5) + (2 + 125) + (4 + 126) + (4 + 65_535) + (10 + 65_536) + (10 + 200_000))
  const messages = decode(bytes)
  t.equal(messages.length, payloads.length)
  messages.forEach((m, i) => {
    t.ok(m.isBinary)
    t.ok(m.data.equals(payloads[i]!), `payload ${i}`)
  })
})

t.test('text frames', async (t) => {
  const [m] = decode(encodeFrames([Buffer.from('héllo')], Opcode.TEXT))
  t.equal(m?.isBinary, false)
  t.equal(m?.data.toString(), 'héllo')
})
