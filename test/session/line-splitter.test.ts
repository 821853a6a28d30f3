import t from 'tap'
import { LineSplitter, sanitise } from '../../src/session/line-splitter.js'
import { Lines } from '../../src/session/lines.js'

function split (chunks: Array<string | Buffer>, max = 1024): string[] {
  const s = new LineSplitter(max)
  const lines = new Lines()
  const out: string[] = []
  const take = (): void => { for (let i = 0; i < lines.count; i++) out.push(lines.line(i).toString('utf8')) }
  for (const c of chunks) {
    s.push(typeof c === 'string' ? Buffer.from(c) : c, lines)
    take()
  }
  s.end(lines)
  take()
  return out
}

t.test('one trailing newline or CRLF is removed; empty lines stay', async (t) => {
  t.same(split(['a\nb\r\n\n\r\nc\r\r\n']), ['a', 'b', '', '', 'c\r'])
})

t.test('the last line without a newline is sent at the end', async (t) => {
  t.same(split(['a\nlast']), ['a', 'last'])
  t.same(split(['a\n']), ['a'])
  t.same(split([]), [])
})

t.test('lines across chunks, CRLF split across chunks', async (t) => {
  t.same(split(['he', 'llo', ' wor', 'ld\nne', 'xt\r', '\nend']), ['hello world', 'next', 'end'])
})

t.test('long lines are cut at maxLineBytes, never inside a UTF-8 character', async (t) => {
  t.same(split(['abcdefghij\n'], 4), ['abcd', 'efgh', 'ij'])
  t.same(split(['abcd', 'efgh', 'ij'], 4), ['abcd', 'efgh', 'ij'], 'an unfinished line holds at most max bytes')
  t.same(split(['aé€x\n'], 4), ['aé', '€x'], 'cut before the character that would not fit')
  t.same(split([Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x0a])], 4), ['\ufffd\ufffd\ufffd\ufffd', '\ufffd'], 'continuation bytes only: cut at max')
  t.same(split(['abcd\n'], 4), ['abcd'], 'exactly max bytes is one line')
  t.same(split(['x\nabcdefghij\r\n'], 4), ['x', 'abcd', 'efgh', 'ij'], 'a long line inside a chunk is cut in place')
  t.same(split(['x\n', Buffer.from([0xff, 0x61, 0x62, 0x63, 0x64, 0x65, 0x0a])], 4), ['x', '\ufffdabc', 'de'], 'an invalid long line is cut, then replaced')
})

t.test('many lines in one chunk', async (t) => {
  const text = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n'
  const lines = split([text])
  t.equal(lines.length, 5000)
  t.equal(lines[4999], 'line 4999')
  const invalid = split([Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0x0a])])])
  t.equal(invalid.length, 5001, 'lines of an invalid chunk are their own buffers')
  t.equal(invalid[5000], '\ufffd')
})

t.test('invalid UTF-8 becomes U+FFFD, valid text is untouched', async (t) => {
  t.same(split([Buffer.from([0x61, 0xff, 0x62, 0x0a, 0x63, 0x0a])]), ['a\ufffdb', 'c'])
  t.same(split([Buffer.from('x\n'), Buffer.from([0xe2, 0x82]), Buffer.from([0xac, 0x0a])]), ['x', '€'], 'a character split across chunks')
  t.same(split([Buffer.from([0xe2, 0x82])]), ['\ufffd'], 'a cut character at the end')
  t.same(split([Buffer.from([0xc3]), Buffer.from([0x0a, 0x61, 0x0a])]), ['\ufffd', 'a'])
  const valid = Buffer.from('ok')
  t.equal(sanitise(valid), valid, 'valid bytes are returned as they are')
})
