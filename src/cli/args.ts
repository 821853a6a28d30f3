import { resolve } from 'node:path'
import { toMs } from '../config/duration.js'
import { UsageError } from '../errors.js'
import { header, integer, scan } from './flags.js'
import { LOG_LEVELS, WEBSOCKETD_LOG_LEVELS } from './usage.js'

export { LOG_LEVELS, USAGE, WEBSOCKETD_LOG_LEVELS } from './usage.js'

export { UsageError } from '../errors.js'

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
  /** `--ssl` with `--sslcert`, `--sslkey` and, with `--sslca`, the CA client certificates must come from. */
  ssl?: { cert: string, key: string, ca?: string }
  /** `--passstderr`: stderr goes to the client as tagged JSON (`stderr: tagged`). */
  passstderr: boolean
  /** `--maxframesize`: the largest client message, in bytes (`maxMessageBytes`). */
  maxframesize?: number
  /** `--pingms`: the ping interval in ms (`pingInterval`; 0: never). */
  pingms?: number
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
    passstderr: flag('passstderr'),
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
  const maxframesize = one('maxframesize')
  if (maxframesize !== undefined) websocketd.maxframesize = integer('maxframesize', maxframesize)
  if (websocketd.maxframesize === 0) throw new UsageError('--maxframesize must be at least 1')
  const pingms = one('pingms')
  if (pingms !== undefined) websocketd.pingms = integer('pingms', pingms)
  const cert = one('sslcert')
  const key = one('sslkey')
  const ca = one('sslca')
  if (flag('ssl')) {
    if (cert === undefined || key === undefined) throw new UsageError('--ssl needs --sslcert FILE and --sslkey FILE')
    websocketd.ssl = ca === undefined ? { cert, key } : { cert, key, ca }
  } else if (cert !== undefined || key !== undefined || ca !== undefined) {
    throw new UsageError('--sslcert, --sslkey and --sslca need --ssl')
  }
  const shaping = ['dir', 'staticdir', 'binary', 'passenv', 'passstderr', 'maxforks', 'maxframesize', 'pingms', 'closems', 'origin', 'sameorigin', 'ssl', 'header', 'header-ws', 'header-http'].filter((n) => values.has(n) && n !== 'dir')
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
  // websocketd's --unixsocket is wsexec's --socket.
  const socket = one('socket') ?? one('unixsocket')
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
