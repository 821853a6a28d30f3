import { Type, type Static, type TUnsafe } from '@sinclair/typebox'
import { Duration, EnvName, MESSAGE_KEYWORD, Size, SIZE_DEFAULTS } from './schema-parts.js'
import { ROUTE_CONTAINMENT } from './containment-schema.js'
import { ROUTE_ONLY_SECURITY, ROUTE_SECURITY, SERVER_SECURITY } from './security-schema.js'

/** Default values of the configuration, used by the schema's `default` keywords and by normalisation. */
export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  mode: 'text',
  stderr: 'log',
  passEnv: Object.freeze(['PATH', 'LD_LIBRARY_PATH']),
  maxLineBytes: SIZE_DEFAULTS.maxLineBytes,
  closeGrace: '1s',
  killGrace: '2s',
  drainTimeout: '30s',
  livePath: '/healthz',
  readyPath: '/readyz',
  metricsPath: '/metrics',
  console: false,
  staticPrefix: '/',
  tty: false,
  ttySize: Object.freeze({ cols: 80, rows: 24 }),
  ttyControl: 'json',
  protocols: Object.freeze(['plain'] as const),
  /** The default `spawners` is the number of cores, at most this. */
  maxDefaultSpawners: 4,
  maxParamLength: 256,
  startTimeout: '30s',
  share: Object.freeze({ input: 'none', replay: 0, linger: '0s', maxLag: '1MiB' } as const),
  resume: Object.freeze({ window: '60s', buffer: '1MiB' } as const)
} as const)

function StringEnum<const T extends readonly string[]> (values: T, options: { default?: T[number], description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: values, ...options })
}

const Headers = (description: string) => Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), Type.String({ pattern: '^[^\\r\\n]*$' }), { additionalProperties: false, description })

/** Text and binary framing of a route's standard streams. */
export const MODES = ['text', 'binary'] as const
/** What happens to a route's standard error. */
export const STDERR_MODES = ['log', 'discard', 'merge', 'tagged'] as const
/** What a text message on a PTY route may carry besides keystrokes. */
export const TTY_CONTROLS = ['json', 'none'] as const
/** WebSocket subprotocols a route may speak: wsexec's own framing, or Kubernetes exec channels. */
export const PROTOCOLS = ['plain', 'v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'] as const

/** Who of a shared program's clients may write to its stdin. */
export const SHARE_INPUTS = ['none', 'first', 'all'] as const

/** `share`: one program per route and URL path, every client attached to it. */
const ShareSchema = Type.Object({
  input: Type.Optional(StringEnum(SHARE_INPUTS, { default: DEFAULTS.share.input, description: 'none: no client writes; first: the oldest attached client writes; all: every client writes' })),
  replay: Type.Optional(Size('recent output a joining client gets first (whole messages)', DEFAULTS.share.replay)),
  linger: Type.Optional(Duration('how long the program runs on after the last client left', DEFAULTS.share.linger)),
  maxLag: Type.Optional(Size('a client further behind the fastest is closed 1008 "lagging"', DEFAULTS.share.maxLag))
}, { additionalProperties: false, description: 'one program per route and URL path, shared by every client that connects to it' })

/** `resume`: a session that survives a dropped connection (subprotocol wsexec.resume.v1). */
const ResumeSchema = Type.Object({
  window: Type.Optional(Duration('how long the program waits for its client to come back', DEFAULTS.resume.window)),
  buffer: Type.Optional(Size('output kept for the client; past it the program is paused, nothing is dropped', DEFAULTS.resume.buffer))
}, { additionalProperties: false, description: 'a client offering the subprotocol wsexec.resume.v1 may reconnect to its session within the window' })

/** A path parameter's pattern, as a string or with options: a value starting with `-` is refused unless `allowDash`. */
const Param = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object({
    pattern: Type.String({ minLength: 1 }),
    allowDash: Type.Optional(Type.Boolean({ default: false, description: 'accept values that start with - (they may be read as options: put -- before {name} in command)' }))
  }, { additionalProperties: false })
], { [MESSAGE_KEYWORD]: 'must be a regular expression, or { pattern: "...", allowDash: true }' })

/** One route: the program started for each WebSocket connection to its path. */
export const RouteSchema = Type.Object({
  command: Type.Array(Type.String(), {
    minItems: 1,
    description: 'argv of the program, run without a shell; {name} in an element is replaced by the path parameter'
  }),
  params: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Param, {
    additionalProperties: false,
    description: 'a regular expression for each :name in the path (matched in linear time); it must match the whole decoded segment'
  })),
  mode: Type.Optional(StringEnum(MODES, { default: DEFAULTS.mode, description: 'text: one line per message; binary: raw chunks' })),
  stderr: Type.Optional(StringEnum(STDERR_MODES, { default: DEFAULTS.stderr, description: 'log, discard, merge into stdout, or tagged JSON messages (text mode)' })),
  env: Type.Optional(Type.Record(EnvName(), Type.String(), { additionalProperties: false, description: 'variables set for the program' })),
  passEnv: Type.Optional(Type.Array(EnvName(), { default: DEFAULTS.passEnv, description: 'server environment variables handed down' })),
  cwd: Type.Optional(Type.String({ minLength: 1, description: 'working directory, relative to the config file' })),
  maxLineBytes: Type.Optional(Type.Integer({ minimum: 4, default: DEFAULTS.maxLineBytes, description: 'text mode: longer lines are split into several messages (at least 4: a cut never splits a UTF-8 character)' })),
  closeGrace: Type.Optional(Duration('after the client leaves: stdin is closed, then this long before SIGTERM', DEFAULTS.closeGrace)),
  killGrace: Type.Optional(Duration('after SIGTERM, this long before SIGKILL', DEFAULTS.killGrace)),
  tty: Type.Optional(Type.Boolean({ default: DEFAULTS.tty, description: 'run the program on a pseudo-terminal: raw keystrokes in, raw terminal output out' })),
  ttySize: Type.Optional(Type.Object({
    cols: Type.Integer({ minimum: 1, maximum: 65535 }),
    rows: Type.Integer({ minimum: 1, maximum: 65535 })
  }, { additionalProperties: false, default: DEFAULTS.ttySize, description: 'tty: the terminal size unless the query gives ?cols=&rows=' })),
  ttyControl: Type.Optional(StringEnum(TTY_CONTROLS, { default: DEFAULTS.ttyControl, description: 'tty: json makes a text message {"resize":{"cols":C,"rows":R}} a resize; none makes every message input' })),
  protocols: Type.Optional(Type.Array(StringEnum(PROTOCOLS), {
    minItems: 1,
    uniqueItems: true,
    default: DEFAULTS.protocols,
    description: 'subprotocols offered: plain (wsexec framing), v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io (Kubernetes exec channels)'
  })),
  pathInfo: Type.Optional(Type.Boolean({ default: false, description: 'also serve deeper paths (/path/a/b); the rest of the path goes to PATH_INFO, as websocketd does' })),
  share: Type.Optional(ShareSchema),
  resume: Type.Optional(ResumeSchema),
  ...ROUTE_SECURITY,
  ...ROUTE_ONLY_SECURITY,
  ...ROUTE_CONTAINMENT
}, { additionalProperties: false })

/** The whole configuration file. */
export const ConfigSchema = Type.Object({
  $schema: Type.Optional(Type.String({ description: 'editor hint, ignored' })),
  listen: Type.Optional(Type.Object({
    host: Type.Optional(Type.String({ minLength: 1, default: DEFAULTS.host })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULTS.port })),
    socket: Type.Optional(Type.String({ minLength: 1, description: 'listen on this Unix socket instead of host and port (relative to the config file)' }))
  }, { additionalProperties: false })),
  shutdown: Type.Optional(Type.Object({
    drainTimeout: Type.Optional(Duration('on SIGTERM/SIGINT: how long running sessions may go on before they are closed with 1001', DEFAULTS.drainTimeout))
  }, { additionalProperties: false })),
  health: Type.Optional(Type.Object({
    live: Type.Optional(Type.String({ pattern: '^/', default: DEFAULTS.livePath, description: 'liveness endpoint: 200 while the process runs' })),
    ready: Type.Optional(Type.String({ pattern: '^/', default: DEFAULTS.readyPath, description: 'readiness endpoint: 200 while sessions are accepted, 503 while draining' }))
  }, { additionalProperties: false })),
  metrics: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ default: true })),
    path: Type.Optional(Type.String({ pattern: '^/', default: DEFAULTS.metricsPath })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'serve metrics on their own port instead of the main one' })),
    host: Type.Optional(Type.String({ minLength: 1, description: 'address of the metrics port (default: listen.host)' }))
  }, { additionalProperties: false })),
  console: Type.Optional(Type.Boolean({ default: DEFAULTS.console, description: 'serve the dev console page at / (--console)' })),
  spawners: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: 'processes that start the programs, off the server\'s event loop (default: the number of cores, at most 4; 0: programs start in the server process)' })),
  maxPendingSpawns: Type.Optional(Type.Integer({ minimum: 1, description: 'program starts waiting or in flight at once (the start queue); more upgrades are refused with 503 WSEXEC_ERR_BUSY and Retry-After (default: maxSessions; no limit when maxSessions is 0)' })),
  startTimeout: Type.Optional(Duration('how long a start may wait in the queue for a spawner; then the session closes with 1013 start timeout', DEFAULTS.startTimeout)),
  maxParamLength: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULTS.maxParamLength, description: 'the longest path parameter value, in characters once decoded; a longer one is 404 before its pattern runs' })),
  static: Type.Optional(Type.Object({
    dir: Type.String({ minLength: 1, description: 'folder of files to serve, relative to the config file' }),
    prefix: Type.Optional(Type.String({ pattern: '^/', default: DEFAULTS.staticPrefix, description: 'URL path the files are served under' }))
  }, { additionalProperties: false, description: 'static files served next to the routes (routes win)' })),
  headers: Type.Optional(Type.Object({
    any: Type.Optional(Headers('headers added to every response')),
    ws: Type.Optional(Headers('headers added to successful WebSocket upgrade responses')),
    http: Type.Optional(Headers('headers added to every other HTTP response'))
  }, { additionalProperties: false, description: 'extra response headers (websocketd --header, --header-ws, --header-http)' })),
  routes: Type.Record(Type.String({ pattern: '^/' }), RouteSchema, {
    minProperties: 1,
    additionalProperties: false,
    description: 'URL path (segments, :name parameters) to route'
  }),
  ...ROUTE_SECURITY,
  ...SERVER_SECURITY,
  ...ROUTE_CONTAINMENT
}, {
  $id: 'https://github.com/wsexec/wsexec/config/wsexec.schema.json',
  title: 'wsexec configuration',
  additionalProperties: false
})

/** A route as written in the file. */
export type RouteInput = Static<typeof RouteSchema>
/** The configuration file as written. */
export type ConfigInput = Static<typeof ConfigSchema>
