import { resolve } from 'node:path'
import { toMs } from '../config/duration.js'
import { errors } from '../errors.js'

/** Log levels accepted by `--log-level` (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** websocketd's `--loglevel` values, and the wsexec level each one means. */
export const WEBSOCKETD_LOG_LEVELS: Readonly<Record<string, typeof LOG_LEVELS[number]>> = {
  debug: 'debug', trace: 'trace', access: 'info', info: 'info', error: 'error', fatal: 'fatal'
}

/** The help text of `wsexec --help`. */
export const USAGE = `Usage: wsexec [options] [-c FILE]
       wsexec [options] COMMAND [ARGS...]     (or: -- COMMAND [ARGS...])
       wsexec [options] --dir=FOLDER
       wsexec connect [options] URL           (wsexec connect --help)

Serves programs that read stdin and write stdout as WebSocket endpoints.
Each connection starts its own process; the routes come from a YAML file,
or a COMMAND is served at every path (the rest of the path in PATH_INFO),
or every executable file in FOLDER is served at its name.

Options:
  -c, --config FILE     routes file (default: config/routes.yaml)
      --host HOST       address to listen on (overrides the file; default 127.0.0.1)
  -p, --port PORT       port to listen on, 0 for any free port (overrides the file)
      --socket PATH     listen on a Unix socket instead (overrides the file)
      --watch           reload the routes file when it changes (SIGHUP reloads too)
      --drain-timeout D how long sessions may finish on SIGTERM (overrides shutdown.drainTimeout; 30s)
      --log-level LEVEL ${LOG_LEVELS.join(', ')} (default: info)
      --check           validate the configuration, print its routes, and exit
      --console         serve the dev console page at / (overrides the file)
      --asyncapi        print the AsyncAPI document of the routes, and exit
      --print-config    print the routes file equivalent to the command line, and exit
  -h, --help            show this help
  -v, --version         show the version

websocketd's options (same meaning; see the README's table of differences):
      --address ADDR    address to listen on; repeat it for several (default 127.0.0.1)
      --dir FOLDER      serve every executable file in FOLDER (and its subfolders) at its path
      --staticdir DIR   serve the files in DIR over plain HTTP
      --devconsole      serve the dev console page at / (as --console)
      --binary          binary mode: raw chunks instead of lines
      --passenv A,B     server environment variables handed down (default PATH,LD_LIBRARY_PATH)
      --maxforks N      at most N sessions at once (0: no limit)
      --closems MS      after the client leaves, MS milliseconds before the program is signalled
      --origin H[:P],…  allow only these browser origins (requests without Origin are refused)
      --sameorigin      allow only the page's own origin, and refuse requests without Origin
      --ssl --sslcert FILE --sslkey FILE   serve wss:// and https://
      --header 'N: V'   add a header to every response (--header-ws: upgrades, --header-http: others)
      --loglevel LEVEL  ${Object.keys(WEBSOCKETD_LOG_LEVELS).join(', ')}
      --reverselookup   accepted and ignored (REMOTE_HOST is the client's address)
      --license         show the license
      --cgidir          not supported: wsexec serves WebSocket endpoints only
Options are written --name=value or --name value (one dash works too).

Signals: SIGTERM/SIGINT drain (running sessions may finish for shutdown.drainTimeout),
a second one ends every session at once; SIGHUP reloads the routes file.
Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`

/** A mistake on the command line (`code` WSEXEC_ERR_USAGE): printed with a pointer to `--help`, exit status 2. */
export class UsageError extends errors.USAGE {}

/** Settings taken from websocketd's options, used to build routes from the command line. */
export interface WebsocketdOptions {
  dir?: string
  staticdir?: string
  binary: boolean
  passenv?: string[]
  maxforks?: number
  closems?: number
  origin?: string[]
  sameorigin: boolean
  ssl?: { cert: string, key: string }
  headers: { any: string[], ws: string[], http: string[] }
  reverselookup: boolean
}

/** The parsed command line of the server command. */
export interface Options {
  config: string
  /** Whether `--config` was given (else the default file is meant). */
  configGiven: boolean
  /** Addresses to listen on: `--host` and each `--address`, in order; empty for the file's. */
  hosts: string[]
  port?: number
  socket?: string
  drainTimeoutMs?: number
  watch: boolean
  logLevel: typeof LOG_LEVELS[number]
  check: boolean
  console: boolean
  asyncapi: boolean
  printConfig: boolean
  help: boolean
  version: boolean
  license: boolean
  /** The program and its arguments, when given on the command line. */
  command: string[]
  websocketd: WebsocketdOptions
}

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
  if (name === undefined || kind === undefined) throw new UsageError(`Unknown option '${eq === -1 ? arg : arg.slice(0, arg.indexOf('='))}'`)
  return { name, kind, inline: eq === -1 ? undefined : body.slice(eq + 1) }
}

/** Reads the arguments the way websocketd's (Go's) flag package does: options end at the first non-option. */
function scan (argv: readonly string[]): { values: Map<string, string[]>, command: string[], dashes: boolean } {
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

function integer (name: string, text: string, max = 2 ** 31 - 1): number {
  const n = Number(text)
  if (!/^[0-9]+$/.test(text) || n > max) throw new UsageError(`--${name} must be a number from 0 to ${max}, not ${JSON.stringify(text)}`)
  return n
}

function header (name: string, text: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/.test(text)) throw new UsageError(`--${name} must look like 'Name: value', not ${JSON.stringify(text)}`)
  return text
}

/**
 * Parses the server command's arguments: wsexec's own options and websocketd's, written
 * `--name=value` or `--name value`, then an optional command (after `--` or not).
 * @throws {UsageError} naming the bad argument.
 */
export function parseArgs (argv: readonly string[]): Options {
  const { values, command, dashes } = scan(argv)
  const one = (name: string): string | undefined => values.get(name)?.at(-1)
  const flag = (name: string): boolean => one(name) === 'true'
  if (dashes && command.length === 0) throw new UsageError('a command is expected after --')
  if (one('cgidir') !== undefined) throw new UsageError('--cgidir is not supported: wsexec serves WebSocket endpoints only (serve CGI scripts with a web server)')
  if (one('redirport') !== undefined) throw new UsageError('--redirport is not supported: redirect with a reverse proxy in front of wsexec')
  const dir = one('dir')
  const sources = [command.length > 0 ? 'a command' : undefined, dir === undefined ? undefined : '--dir', one('config') === undefined ? undefined : '--config'].filter((s) => s !== undefined)
  if (sources.length > 1) throw new UsageError(`${sources.join(' and ')} exclude each other`)
  const fromCommandLine = command.length > 0 || dir !== undefined
  if (fromCommandLine && flag('watch')) throw new UsageError('--watch needs a routes file, not routes from the command line')

  const websocketdLevel = one('loglevel')
  if (websocketdLevel !== undefined && WEBSOCKETD_LOG_LEVELS[websocketdLevel] === undefined) {
    throw new UsageError(`--loglevel must be one of ${Object.keys(WEBSOCKETD_LOG_LEVELS).join(', ')}, not ${JSON.stringify(websocketdLevel)}`)
  }
  const logLevel = one('log-level') ?? (websocketdLevel === undefined ? 'info' : WEBSOCKETD_LOG_LEVELS[websocketdLevel] as string)
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(logLevel)}`)

  const websocketd: WebsocketdOptions = {
    binary: flag('binary'),
    sameorigin: flag('sameorigin'),
    reverselookup: flag('reverselookup'),
    headers: {
      any: (values.get('header') ?? []).map((h) => header('header', h)),
      ws: (values.get('header-ws') ?? []).map((h) => header('header-ws', h)),
      http: (values.get('header-http') ?? []).map((h) => header('header-http', h))
    }
  }
  if (dir !== undefined) websocketd.dir = dir
  const staticdir = one('staticdir')
  if (staticdir !== undefined) websocketd.staticdir = staticdir
  const passenv = one('passenv')
  if (passenv !== undefined) websocketd.passenv = passenv.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const maxforks = one('maxforks')
  if (maxforks !== undefined) websocketd.maxforks = integer('maxforks', maxforks)
  const closems = one('closems')
  if (closems !== undefined) websocketd.closems = integer('closems', closems)
  const origin = one('origin')
  if (origin !== undefined) websocketd.origin = origin.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const cert = one('sslcert')
  const key = one('sslkey')
  if (flag('ssl')) {
    if (cert === undefined || key === undefined) throw new UsageError('--ssl needs --sslcert FILE and --sslkey FILE')
    websocketd.ssl = { cert, key }
  } else if (cert !== undefined || key !== undefined) {
    throw new UsageError('--sslcert and --sslkey need --ssl')
  }
  const shaping = ['dir', 'staticdir', 'binary', 'passenv', 'maxforks', 'closems', 'origin', 'sameorigin', 'ssl', 'header', 'header-ws', 'header-http'].filter((n) => values.has(n) && n !== 'dir')
  if (!fromCommandLine && shaping.length > 0) {
    throw new UsageError(`--${shaping[0] as string} shapes the routes built from the command line (a COMMAND or --dir); with a routes file, set it in the file`)
  }
  if (flag('print-config') && !fromCommandLine) throw new UsageError('--print-config needs a COMMAND or --dir: it prints the routes file they make')

  const options: Options = {
    config: one('config') ?? 'config/routes.yaml',
    configGiven: one('config') !== undefined,
    hosts: [...(values.get('host') ?? []), ...(values.get('address') ?? [])],
    watch: flag('watch'),
    logLevel: logLevel as Options['logLevel'],
    check: flag('check'),
    console: flag('console') || flag('devconsole'),
    asyncapi: flag('asyncapi'),
    printConfig: flag('print-config'),
    help: flag('help'),
    version: flag('version'),
    license: flag('license'),
    command,
    websocketd
  }
  const socket = one('socket')
  if (socket !== undefined) options.socket = resolve(socket)
  const drain = one('drain-timeout')
  if (drain !== undefined) {
    try {
      options.drainTimeoutMs = toMs(/^[0-9]+$/.test(drain) ? Number(drain) : drain)
    } catch (err) {
      throw new UsageError(`--drain-timeout: ${(err as Error).message}`)
    }
  }
  const port = one('port')
  if (port !== undefined) options.port = integer('port', port, 65535)
  return options
}
