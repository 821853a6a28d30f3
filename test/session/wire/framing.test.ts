import t from 'tap'
import { parseConfig } from '../../../src/config/load.js'
import { BinaryFraming, framingFor, TextFraming } from '../../../src/session/wire/framing.js'
import { Lines } from '../../../src/session/wire/lines.js'
import { decodeFrames } from '../../helpers/receiver.js'

function written (decode: (input: Buffer[]) => number): string[] {
  const input: Buffer[] = []
  const bytes = decode(input)
  t.equal(bytes, Buffer.concat(input).length, 'the length of what was appended')
  return input.map(String)
}

function texts (bytes: Buffer | undefined): string[] {
  return decodeFrames(bytes).map((m) => m.data.toString())
}

t.test('text framing: one line, one message, per stream', async (t) => {
  const f = new TextFraming(1024, false, new Lines())
  const a = f.encode(Buffer.from('one\ntwo\npart'), 'stdout')
  t.equal(a?.messages, 2)
  t.same(texts(a?.bytes), ['one', 'two'])
  t.equal(f.encode(Buffer.from('no newline'), 'stderr'), null, 'nothing complete yet')
  t.same(texts(f.flush('stdout')?.bytes), ['part'])
  t.same(texts(f.flush('stderr')?.bytes), ['no newline'], 'streams are split separately')
  t.equal(f.flush('stdout'), null)
  t.same(written((input) => f.decode(Buffer.from('1+1'), false, input)), ['1+1', '\n'], 'a text message becomes a line')
  t.same(written((input) => f.decode(Buffer.from('raw'), true, input)), ['raw'], 'a binary message is written raw')
})

t.test('tagged framing wraps each line in JSON', async (t) => {
  const f = new TextFraming(1024, true, new Lines())
  t.same(texts(f.encode(Buffer.from('a "q"\n'), 'stdout')?.bytes).map((s) => JSON.parse(s)), [{ stream: 'stdout', data: 'a "q"' }])
  t.same(texts(f.encode(Buffer.from('oops\n'), 'stderr')?.bytes).map((s) => JSON.parse(s)), [{ stream: 'stderr', data: 'oops' }])
})

t.test('binary framing sends chunks as they come', async (t) => {
  const f = new BinaryFraming()
  t.equal(f.encode(Buffer.from([0, 1, 2])).messages, 1)
  t.equal(f.flush(), null)
  t.same(written((input) => f.decode(Buffer.from('x'), false, input)), ['x'])
})

t.test('framingFor follows the route', async (t) => {
  const config = parseConfig('routes:\n  /t:\n    command: [cat]\n  /b:\n    command: [cat]\n    mode: binary\n', 'x', '/')
  t.type(framingFor(config.routes[0]!, new Lines()), TextFraming)
  t.type(framingFor(config.routes[1]!, new Lines()), BinaryFraming)
})
