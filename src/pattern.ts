/**
 * Route parameter patterns matched in linear time: the JavaScript regular expression syntax a
 * pattern may use (no flags, UTF-16 code units, as `new RegExp(p)` reads it) compiled to an NFA
 * that is simulated one input character at a time (Thompson's construction, a Pike VM without
 * captures). `(a+)+b` costs what `a+b` costs; what an NFA cannot do (backreferences, lookaround)
 * is refused when the pattern is compiled.
 */

/** Tests one UTF-16 code unit. */
type CharTest = (c: number) => boolean

/** Zero-width assertions: `^`, `$`, `\b`, `\B`. */
type Assertion = 'start' | 'end' | 'boundary' | 'notBoundary'

type Node =
  | { kind: 'char', test: CharTest }
  | { kind: 'assert', what: Assertion }
  | { kind: 'seq', items: Node[] }
  | { kind: 'alt', options: Node[] }
  | { kind: 'repeat', item: Node, min: number, max: number }

/** An NFA instruction: match a character, fork, jump, assert, or accept. */
type Instruction =
  | { op: 'char', test: CharTest, next: number }
  | { op: 'split', a: number, b: number }
  | { op: 'jump', to: number }
  | { op: 'assert', what: Assertion, next: number }
  | { op: 'match' }

/** The most NFA instructions a pattern may become (`{n,m}` repeats its item): a bound on the cost per character. */
export const MAX_PATTERN_STATES = 2000

/** A pattern that cannot be matched in linear time, or is too large: `message` says why. */
export class PatternError extends Error {}

const range = (lo: number, hi: number): CharTest => (c) => c >= lo && c <= hi
const DIGIT = range(0x30, 0x39)
const WORD: CharTest = (c) => DIGIT(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f
const SPACES = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff])
const SPACE: CharTest = (c) => SPACES.has(c) || (c >= 0x2000 && c <= 0x200a)
const LINE_END: CharTest = (c) => c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029
const not = (t: CharTest): CharTest => (c) => !t(c)
const CLASS_ESCAPES: Readonly<Record<string, CharTest>> = { d: DIGIT, D: not(DIGIT), w: WORD, W: not(WORD), s: SPACE, S: not(SPACE) }
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d }

/** Reads a pattern into a tree; throws {@link PatternError} for what an NFA cannot match. */
class Parser {
  #i = 0
  readonly #s: string

  constructor (source: string) {
    this.#s = source
  }

  parse (): Node {
    // RegExp has checked the syntax: the top-level alternation reads the whole pattern (a stray ')' is an error there).
    return this.#alternation()
  }

  #alternation (): Node {
    const options = [this.#sequence()]
    while (this.#s[this.#i] === '|') {
      this.#i++
      options.push(this.#sequence())
    }
    return options.length === 1 ? options[0] as Node : { kind: 'alt', options }
  }

  #sequence (): Node {
    const items: Node[] = []
    while (this.#i < this.#s.length && this.#s[this.#i] !== '|' && this.#s[this.#i] !== ')') {
      items.push(this.#quantified(this.#atom()))
    }
    return { kind: 'seq', items }
  }

  #quantified (item: Node): Node {
    const s = this.#s
    const c = s[this.#i]
    let min: number
    let max: number
    const braces = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.#i)) : null
    if (c === '*' || c === '+' || c === '?') {
      [min, max] = c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1]
      this.#i++
    } else if (braces !== null) {
      min = Number(braces[1])
      max = braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3])
      this.#i += braces[0].length
    } else {
      return item
    }
    // Laziness changes which match is found, not whether there is one.
    if (s[this.#i] === '?') this.#i++
    // RegExp refuses a quantified ^, $, \b or \B (outside a group): `item` is never an assertion.
    return { kind: 'repeat', item, min, max }
  }

  #atom (): Node {
    const s = this.#s
    const c = s[this.#i++] as string
    if (c === '.') return { kind: 'char', test: not(LINE_END) }
    if (c === '^') return { kind: 'assert', what: 'start' }
    if (c === '$') return { kind: 'assert', what: 'end' }
    if (c === '[') return { kind: 'char', test: this.#charClass() }
    if (c === '(') {
      if (s.startsWith('?=', this.#i) || s.startsWith('?!', this.#i) || s.startsWith('?<=', this.#i) || s.startsWith('?<!', this.#i)) {
        throw new PatternError('lookahead and lookbehind cannot be matched in linear time')
      }
      if (s.startsWith('?:', this.#i)) this.#i += 2
      else if (s.startsWith('?<', this.#i)) this.#i = s.indexOf('>', this.#i) + 1
      const inner = this.#alternation()
      this.#i++
      return inner
    }
    if (c === '\\') {
      const e = s[this.#i] as string
      if (e === 'b' || e === 'B') {
        this.#i++
        return { kind: 'assert', what: e === 'b' ? 'boundary' : 'notBoundary' }
      }
      if (/[1-9]/.test(e) || (e === 'k' && s[this.#i + 1] === '<')) throw new PatternError('backreferences cannot be matched in linear time')
      return { kind: 'char', test: this.#escape() }
    }
    const code = c.charCodeAt(0)
    return { kind: 'char', test: (x) => x === code }
  }

  /** After a `\` (outside or inside a class): a class escape or one character. */
  #escape (): CharTest {
    const s = this.#s
    const e = s[this.#i++] as string
    const cls = CLASS_ESCAPES[e]
    if (cls !== undefined) return cls
    const code = this.#escapedCode(e)
    return (x) => x === code
  }

  #escapedCode (e: string): number {
    const s = this.#s
    const control = CONTROL_ESCAPES[e]
    if (control !== undefined) return control
    const hex = e === 'x' ? /^[0-9a-fA-F]{2}/.exec(s.slice(this.#i)) : e === 'u' ? /^[0-9a-fA-F]{4}/.exec(s.slice(this.#i)) : null
    if (hex !== null) {
      this.#i += hex[0].length
      return parseInt(hex[0], 16)
    }
    if (e === 'c') {
      if (!/^[A-Za-z]/.test(s.slice(this.#i))) throw new PatternError('\\c needs a letter (for a backslash, write \\\\)')
      return s.charCodeAt(this.#i++) % 32
    }
    if (e === '0') {
      if (/^[0-9]/.test(s.slice(this.#i))) throw new PatternError('octal escapes are not supported: write \\xHH')
      return 0
    }
    // An identity escape (`\.`, `\-`), or Annex B's reading of an unknown one (`\q` is `q`).
    return e.charCodeAt(0)
  }

  /** After a `[`: the class up to its `]`. */
  #charClass (): CharTest {
    const s = this.#s
    const negated = s[this.#i] === '^'
    if (negated) this.#i++
    const tests: CharTest[] = []
    while (s[this.#i] !== ']') {
      const lo = this.#classAtom()
      if (s[this.#i] === '-' && s[this.#i + 1] !== ']' && typeof lo === 'number') {
        this.#i++
        const hi = this.#classAtom()
        // `[a-\d]` is a, -, and digits (Annex B); RegExp refuses a reversed range before this runs.
        tests.push(typeof hi === 'number' ? range(lo, hi) : (x) => x === lo || x === 0x2d || hi(x))
      } else {
        tests.push(typeof lo === 'number' ? (x) => x === lo : lo)
      }
    }
    this.#i++
    const any: CharTest = (x) => tests.some((t) => t(x))
    return negated ? not(any) : any
  }

  /** One character of a class, or a class escape (`\d`) as its test. */
  #classAtom (): number | CharTest {
    const s = this.#s
    const c = s[this.#i++] as string
    if (c !== '\\') return c.charCodeAt(0)
    const e = s[this.#i] as string
    if (e === 'b') {
      this.#i++
      return 0x08
    }
    const cls = CLASS_ESCAPES[e]
    if (cls !== undefined) {
      this.#i++
      return cls
    }
    this.#i++
    return this.#escapedCode(e)
  }
}

/** Emits the NFA of a tree (Thompson's construction). */
function emit (node: Node, program: Instruction[]): void {
  if (program.length >= MAX_PATTERN_STATES) throw new PatternError(`too large: more than ${MAX_PATTERN_STATES} states (lower the {n,m} counts)`)
  switch (node.kind) {
    case 'char':
      program.push({ op: 'char', test: node.test, next: program.length + 1 })
      return
    case 'assert':
      program.push({ op: 'assert', what: node.what, next: program.length + 1 })
      return
    case 'seq':
      for (const item of node.items) emit(item, program)
      return
    case 'alt': {
      const jumps: Array<{ op: 'jump', to: number }> = []
      node.options.forEach((option, i) => {
        const last = i === node.options.length - 1
        const split = { op: 'split' as const, a: program.length + 1, b: 0 }
        if (!last) program.push(split)
        emit(option, program)
        if (!last) {
          const jump = { op: 'jump' as const, to: 0 }
          jumps.push(jump)
          program.push(jump)
          split.b = program.length
        }
      })
      for (const jump of jumps) jump.to = program.length
      return
    }
    default: {
      for (let i = 0; i < node.min; i++) emit(node.item, program)
      if (node.max === Infinity) {
        const loop = program.length
        const split = { op: 'split' as const, a: loop + 1, b: 0 }
        program.push(split)
        emit(node.item, program)
        program.push({ op: 'jump', to: loop })
        split.b = program.length
        return
      }
      const splits: Array<{ op: 'split', a: number, b: number }> = []
      for (let i = node.min; i < node.max; i++) {
        const split = { op: 'split' as const, a: program.length + 1, b: 0 }
        splits.push(split)
        program.push(split)
        emit(node.item, program)
      }
      for (const split of splits) split.b = program.length
    }
  }
}

/** A compiled parameter pattern: {@link LinearPattern.test} is true when it matches the whole value. */
export class LinearPattern {
  readonly source: string
  readonly #program: Instruction[]

  constructor (source: string, program: Instruction[]) {
    this.source = source
    this.#program = program
  }

  /** Whether the pattern matches all of `value` (as `^(?:pattern)$` would), in time linear in its length. */
  test (value: string): boolean {
    const program = this.#program
    let current = new Set<number>()
    const add = (set: Set<number>, pc: number, at: number): void => {
      if (set.has(pc)) return
      set.add(pc)
      const ins = program[pc] as Instruction
      if (ins.op === 'jump') add(set, ins.to, at)
      else if (ins.op === 'split') {
        add(set, ins.a, at)
        add(set, ins.b, at)
      } else if (ins.op === 'assert' && holds(ins.what, value, at)) add(set, ins.next, at)
    }
    add(current, 0, 0)
    for (let at = 0; at < value.length && current.size > 0; at++) {
      const c = value.charCodeAt(at)
      const next = new Set<number>()
      for (const pc of current) {
        const ins = program[pc] as Instruction
        if (ins.op === 'char' && ins.test(c)) add(next, ins.next, at + 1)
      }
      current = next
    }
    for (const pc of current) if ((program[pc] as Instruction).op === 'match') return true
    return false
  }
}

function holds (what: Assertion, value: string, at: number): boolean {
  if (what === 'start') return at === 0
  if (what === 'end') return at === value.length
  const before = at > 0 && WORD(value.charCodeAt(at - 1))
  const after = at < value.length && WORD(value.charCodeAt(at))
  return (before !== after) === (what === 'boundary')
}

/**
 * Compiles a parameter pattern for linear-time matching of whole values. Throws a `SyntaxError`
 * for an invalid regular expression and a {@link PatternError} for one it cannot match in
 * linear time (backreferences, lookaround) or that is larger than {@link MAX_PATTERN_STATES}.
 */
export function compilePattern (source: string): LinearPattern {
  RegExp(source)
  const program: Instruction[] = []
  emit(new Parser(source).parse(), program)
  program.push({ op: 'match' })
  return new LinearPattern(source, program)
}
