import t from 'tap'
import { compilePattern, MAX_PATTERN_STATES, PatternError } from '../src/pattern.js'

/** Patterns of every construct the matcher reads, each checked against RegExp on many values. */
const PATTERNS = [
  '[a-z]+', '[^/]+', '[0-9]{1,5}', '\\d{3}', '\\d{2,}', 'a{0,3}b', 'x?y*z+', '(a+)+b', '(a|aa)+', '(a*)*', '(?:ab|cd)*e', '(?<name>ab)+',
  'foo|bar|', '^abc$', '^a|b$', '\\bab\\b.*', 'a\\Bb', '.+', '[.]', '\\.', '\\w+\\W?\\s*\\S', '\\D\\d', '[\\d-a]', '[a-\\d]', '[a-]', '[-a]',
  '[]', '[^]', '[]a]', '[\\b]', '[\\w\\s]+', '[^\\d]+', '\\x41\\u0042', '\\xZ', '\\t\\n\\v\\f\\r', '\\0', '\\cJ', '[\\cJ]', 'a{', 'a{1,', 'a{2}?b+?', '}', ']',
  '\\q', '\\u{2}', 'a{0}', '(^)*a', '(?:)', '\\-[a-z0-9 -]+', 'ä+', '[\\u00e0-\\u00ff]*'
]
const ALPHABET = ['a', 'b', 'c', 'd', 'e', 'x', 'y', 'z', 'A', 'B', '0', '1', '5', '9', ' ', '\t', '\n', '\r', '\v', '\f', '\b', '\0', '.', '-', ']', '}', '{', '/', '_', 'ä', 'é', '\u00a0', '\u2005', '\u2028', 'uu', 'ab', 'cd', 'foo', 'bar']

/** A deterministic pseudo-random generator, so that a failure can be run again. */
function generator (seed: number): () => number {
  let x = seed
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648
    return x / 2147483648
  }
}

t.test('every value matches as ^(?:pattern)$ matches it', async (t) => {
  const random = generator(42)
  for (const source of PATTERNS) {
    const pattern = compilePattern(source)
    const reference = new RegExp(`^(?:${source})$`)
    let mismatches = 0
    const values = ['', 'ab', 'aab', 'abc', 'ab cd', 'foo', 'bar', 'e', 'cde', 'a]', '-a', '-', 'x', 'y', 'z', 'xz', 'xyz']
    for (let i = 0; i < 400; i++) {
      const length = Math.floor(random() * 6)
      values.push(Array.from({ length }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join(''))
    }
    for (const value of values) {
      if (pattern.test(value) !== reference.test(value)) {
        mismatches++
        t.fail(`${source} on ${JSON.stringify(value)}: ${String(pattern.test(value))}`)
      }
    }
    t.equal(mismatches, 0, source)
  }
})

t.test('backtracking patterns take steps linear in the value', async (t) => {
  const pattern = compilePattern('(a+)+b')
  t.equal(pattern.test('a'.repeat(10_000)), false, '10,000 a and no b: no match, and no exponential time')
  t.equal(pattern.test(`${'a'.repeat(10_000)}b`), true)
  t.equal(compilePattern('(a|a)*c').test('a'.repeat(10_000)), false)
  t.equal(compilePattern('\\d*\\d*\\d*\\d*x').test('1'.repeat(10_000)), false)
})

t.test('what an NFA cannot match, and invalid patterns, are refused with the reason', async (t) => {
  for (const [source, reason] of [
    ['(a)\\1', /backreferences/], ['(?<n>a)\\k<n>', /backreferences/], ['a(?=b)', /lookahead and lookbehind/], ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookbehind/], ['(?<!a)b', /lookbehind/], ['\\c1', /\\c needs a letter/], ['\\012', /octal escapes/],
    [`a{${MAX_PATTERN_STATES + 1}}`, /too large/], ['(a{50}){50}', /too large/]
  ] as const) {
    let thrown: unknown
    try {
      compilePattern(source)
    } catch (err) {
      thrown = err
    }
    t.ok(thrown instanceof PatternError, `${source} is refused`)
    t.match((thrown as Error).message, reason)
  }
  t.throws(() => compilePattern('(a'), SyntaxError)
  t.equal(compilePattern('[a-z]+').source, '[a-z]+')
})
