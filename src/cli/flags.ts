import { closest } from '../config/suggest.js'
import { UsageError } from '../errors.js'

// The command line's vocabulary: which options exist and of what kind, read the way Go's flag package reads them.

type Kind = 'string' | 'boolean' | 'list'

const FLAGS: Readonly<Record<string, Kind>> = {
  config: 'string',
  host: 'string',
  port: 'string',
  socket: 'string',
  watch: 'boolean',
  'drain-timeout': 'string',
  'log-level': 'string',
  check: 'boolean',
  console: 'boolean',
  asyncapi: 'boolean',
  'print-config': 'boolean',
  help: 'boolean',
  version: 'boolean',
  address: 'list',
  dir: 'string',
  staticdir: 'string',
  cgidir: 'string',
  devconsole: 'boolean',
  binary: 'boolean',
  passenv: 'string',
  maxforks: 'string',
  closems: 'string',
  origin: 'string',
  sameorigin: 'boolean',
  ssl: 'boolean',
  sslcert: 'string',
  sslkey: 'string',
  sslca: 'string',
  unixsocket: 'string',
  passstderr: 'boolean',
  maxframesize: 'string',
  pingms: 'string',
  header: 'list',
  'header-ws': 'list',
  'header-http': 'list',
  loglevel: 'string',
  reverselookup: 'boolean',
  license: 'boolean',
  redirport: 'string'
}

const SHORT: Readonly<Record<string, string>> = { c: 'config', p: 'port', h: 'help', v: 'version' }

/** The option name, kind and inline value of one `-x`, `--name` or `--name=value` argument. */
function flagOf (arg: string): { name: string, kind: Kind, inline: string | undefined } {
  const body = arg.replace(/^--?/, '')
  const eq = body.indexOf('=')
  const given = eq === -1 ? body : body.slice(0, eq)
  const name = arg.startsWith('--') || given.length > 1 ? given : SHORT[given]
  const kind = name === undefined ? undefined : FLAGS[name]
  if (name === undefined || kind === undefined) {
    const hint = given.length > 1 ? closest(given, Object.keys(FLAGS)) : undefined
    throw new UsageError(`Unknown option '${eq === -1 ? arg : arg.slice(0, arg.indexOf('='))}'${hint === undefined ? '' : `: did you mean --${hint}?`}`)
  }
  return { name, kind, inline: eq === -1 ? undefined : body.slice(eq + 1) }
}

/** Reads the arguments the way websocketd's (Go's) flag package does: options end at the first non-option. */
export function scan (argv: readonly string[]): { values: Map<string, string[]>, command: string[], dashes: boolean } {
  const values = new Map<string, string[]>()
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') return { values, command: argv.slice(i + 1), dashes: true }
    if (!arg.startsWith('-') || arg === '-') break
    const { name, kind, inline } = flagOf(arg)
    let value: string
    if (kind === 'boolean') {
      value = inline ?? 'true'
      if (!/^(true|false|1|0)$/.test(value)) throw new UsageError(`--${name} is true or false, not ${JSON.stringify(value)}`)
      value = value === 'true' || value === '1' ? 'true' : 'false'
    } else if (inline !== undefined) {
      value = inline
    } else {
      const next = argv[i + 1]
      if (next === undefined) throw new UsageError(`--${name} needs a value`)
      value = next
      i++
    }
    const list = kind === 'list' ? values.get(name) ?? [] : []
    values.set(name, [...list, value])
  }
  return { values, command: argv.slice(i), dashes: false }
}

/** A whole number from 0 to `max` given to `--name`. @throws {UsageError} otherwise. */
export function integer (name: string, text: string, max = 2 ** 31 - 1): number {
  const n = Number(text)
  if (!/^[0-9]+$/.test(text) || n > max) throw new UsageError(`--${name} must be a number from 0 to ${max}, not ${JSON.stringify(text)}`)
  return n
}

/** A `Name: value` header given to `--name`. @throws {UsageError} otherwise. */
export function header (name: string, text: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/.test(text)) throw new UsageError(`--${name} must look like 'Name: value', not ${JSON.stringify(text)}`)
  return text
}
