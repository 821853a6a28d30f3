import t from 'tap'
import { LineSplitter, sanitise } from '../../../src/session/wire/line-splitter.js'
import { Lines } from '../../../src/session/wire/lines.js'

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

t.test('a line of exactly maxLineBytes is one message, whenever its newline arrives', async (t) => {
  t.same(split(['abcd', '\n', 'x\n'], 4), ['abcd', 'x'], 'newline in the next read')
  t.same(split(['ab', 'cd', '\r', '\n'], 4), ['abcd'], 'CRLF after it, each in its own read')
  t.same(split(['abcd\r', '\nx'], 4), ['abcd', 'x'])
  t.same(split(['abcd', '\r', 'x\n'], 4), ['abcd', '\rx'], 'a CR that is not a CRLF belongs to the next piece')
  t.same(split(['abcd'], 4), ['abcd'], 'at the end of the stream')
  t.same(split(['abcd', '\r'], 4), ['abcd', '\r'], 'a last CR without its newline is data, cut as one')
  t.same(split(['abcd', 'e\n'], 4), ['abcd', 'e'], 'one byte more is two messages')
})

t.test('maxLineBytes below 4 is refused: a smaller cut could split a UTF-8 character', async (t) => {
  t.throws(() => new LineSplitter(3), new TypeError('maxLineBytes must be an integer >= 4: 3'))
  t.throws(() => new LineSplitter(4.5), TypeError)
  t.same(split(['𝄞𝄞\n'], 4), ['𝄞', '𝄞'], 'four bytes hold the longest character')
})

/** The framing rules written out plainly, for the whole stream at once. */
function reference (input: Buffer, max: number): string[] {
  const out: string[] = []
  const pieces = (line: Buffer): void => {
    while (line.length > max) {
      let cut = max
      while (cut > max - 3 && ((line[cut] as number) & 0xc0) === 0x80) cut--
      if (((line[cut] as number) & 0xc0) === 0x80) cut = max
      out.push(line.subarray(0, cut).toString('utf8'))
      line = line.subarray(cut)
    }
    out.push(line.toString('utf8'))
  }
  let start = 0
  for (let nl = input.indexOf(0x0a); nl !== -1; nl = input.indexOf(0x0a, start)) {
    pieces(input.subarray(start, nl > start && input[nl - 1] === 0x0d ? nl - 1 : nl))
    start = nl + 1
  }
  if (start < input.length) pieces(input.subarray(start))
  return out
}

/** `input` cut into reads of `size` bytes. */
function reads (input: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < input.length; at += size) out.push(input.subarray(at, at + size))
  return out
}

t.test('every framing rule holds for reads of 1 byte to 64 KiB', async (t) => {
  const parts = [
    'short\n', '\n', 'crlf\r\n', 'cr\rinside\n', 'é€𝄞 text\n', 'x'.repeat(9) + '\r\n', '€'.repeat(7) + '\n',
    'exactly8\n', 'exactly8\r\n', 'a€€€€€€€€€b\n'
  ]
  const invalid = Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x0a, 0xc3, 0x0d, 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x0a])
  const long = Buffer.from('ü'.repeat(70_000) + 'x'.repeat(100_003) + '\r\n' + '𝄞'.repeat(20_000) + '\n')
  const inputs: Array<[string, Buffer, number[]]> = [
    ['short lines', Buffer.concat([Buffer.from(parts.join('')), invalid, Buffer.from('unfinished é')]), [8, 9, 1024]],
    ['long lines', Buffer.concat([long, invalid, long, Buffer.from('tail without newline')]), [8, 4096, 65_536, 1_048_576]]
  ]
  for (const [name, input, maxes] of inputs) {
    for (const max of maxes) {
      const expected = reference(input, max)
      const sizes = input.length > 100_000 ? [3, 1460, 4096, 65_536] : [1, 2, 3, 4, 5, 7, 13, 1460, 65_536]
      for (const size of sizes) t.same(split(reads(input, size), max), expected, `${name}, max ${max}, reads of ${size}`)
    }
  }
})

t.test('an unfinished line is joined once: its bytes are not copied again on every read', async (t) => {
  const copied = { bytes: 0 }
  const { concat, from } = Buffer
  const count = (b: unknown): void => { if (b instanceof Uint8Array) copied.bytes += b.length }
  Buffer.concat = (list: readonly Uint8Array[], length?: number) => { const out = concat(list, length); count(out); return out }
  Buffer.from = ((value: unknown, ...rest: unknown[]) => {
    const out = (from as (...args: unknown[]) => Buffer)(value, ...rest)
    count(value)
    return out
  }) as typeof Buffer.from
  t.teardown(() => { Buffer.concat = concat; Buffer.from = from })
  const size = 4 * 1024 * 1024
  const line = Buffer.alloc(size, 'a')
  const s = new LineSplitter(size)
  const lines = new Lines()
  let messages = 0
  for (let at = 0; at < size; at += 1460) {
    s.push(line.subarray(at, at + 1460), lines)
    messages += lines.count
  }
  s.push(Buffer.from('\n'), lines)
  t.equal(lines.count + messages, 1, 'one message')
  t.equal(lines.line(0).length, size)
  Buffer.concat = concat
  Buffer.from = from
  t.ok(copied.bytes <= 2 * size + 1, `each byte copied at most twice (${copied.bytes} bytes copied for a ${size}-byte line)`)
})
