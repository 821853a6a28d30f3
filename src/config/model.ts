import type { ConfigInput, RouteInput } from './schema.js'
import type { AuthSpec, Credentials, RouteSecurity, ServerSecurity, TlsSpec } from './security.js'
import type { RouteSecurityInput } from './security-schema.js'
import type { ContainmentInput } from './containment-schema.js'
import type { Containment } from './containment.js'
import type { Position } from './positions.js'

/** A shared route's settings (`share`), sizes in bytes and durations in milliseconds. */
export type SharePolicy = Readonly<{
  input: 'none' | 'first' | 'all'
  replayBytes: number
  lingerMs: number
  maxLagBytes: number
}>

/** A resumable route's settings (`resume`). */
export type ResumePolicy = Readonly<{
  windowMs: number
  bufferBytes: number
}>

/** A route after validation: defaults applied, durations in milliseconds, paths absolute. */
export type Route = Readonly<Omit<Required<RouteInput>, 'closeGrace' | 'killGrace' | 'cwd' | 'command' | 'passEnv' | 'ttySize' | 'params' | 'protocols' | 'share' | 'resume' | keyof RouteSecurityInput | keyof ContainmentInput> & RouteSecurity & {
  /** `share`: one program per route and URL path; null: a program per connection. */
  share: SharePolicy | null
  /** `resume`: sessions that survive a dropped connection; null: not offered. */
  resume: ResumePolicy | null
  /** Whom the programs run as and their resource limits. */
  containment: Containment
  command: readonly string[]
  /** Each path parameter's pattern. */
  params: Readonly<Record<string, string>>
  /** The parameters whose value may start with `-` (`allowDash: true`); any other is refused (404). */
  allowDash: readonly string[]
  /** tty routes: the terminal size when the query gives none. */
  ttySize: Readonly<{ cols: number, rows: number }>
  /** Subprotocols the route speaks, in the server's order of preference. */
  protocols: ReadonlyArray<NonNullable<RouteInput['protocols']>[number]>
  passEnv: readonly string[]
  /** The route's path as written, such as `/count/:n`. */
  path: string
  /** The program: `command[0]` until it is resolved to an absolute path (`loadConfig` does). */
  executable: string
  /** Where `command[0]` stands in the source, for start-up errors. */
  commandAt: Position
  /** Absolute working directory, or undefined for the server's own. */
  cwd: string | undefined
  closeGraceMs: number
  killGraceMs: number
}>

/** A validated, frozen configuration: what the file says, before any file it names is read. */
export type Config = Readonly<{
  /** Where it came from: a file path, or `<command line>`. */
  source: string
  /** The folder relative paths in the configuration are resolved against. */
  baseDir: string
  listen: Readonly<Required<Omit<NonNullable<ConfigInput['listen']>, 'socket'>> & { socket: string | undefined }>
  shutdown: Readonly<{ drainTimeoutMs: number }>
  health: Readonly<Required<NonNullable<ConfigInput['health']>>>
  metrics: Readonly<Required<Omit<NonNullable<ConfigInput['metrics']>, 'port' | 'host'>> & { port: number | undefined, host: string | undefined }>
  /** Whether the dev console is served at `/`. */
  console: boolean
  /** Spawner processes that start the programs (0: programs start in the server process). */
  spawners: number
  /** Program starts waiting or in flight at once, beyond which upgrades are refused (503 WSEXEC_ERR_BUSY); Infinity for no limit. */
  maxPendingSpawns: number
  /** The longest path parameter value (characters, decoded); longer is 404 before the pattern runs. */
  maxParamLength: number
  /** How long a start may wait in the queue for a spawner before its session closes with 1013, in ms. */
  startTimeoutMs: number
  /** Static files: an absolute folder, a prefix ending in `/`, and where `dir` stands in the source. */
  static: Readonly<{ dir: string, prefix: string, dirAt: Position }> | undefined
  routes: readonly Route[]
  /** The top level's `auth`: the default of the routes, and what the console, files and metrics on the main port require. */
  auth: AuthSpec | null
  /** Server-wide security settings (TLS, proxies, timeouts, session limits). */
  security: ServerSecurity
  /** Extra response headers: on every response, on WebSocket upgrades, on other HTTP responses. */
  headers: Readonly<{ any: Readonly<Record<string, string>>, ws: Readonly<Record<string, string>>, http: Readonly<Record<string, string>> }>
}>

/** An `auth` block with its accounts read (tokens, users). */
export type LoadedAuth = AuthSpec & Readonly<{ credentials: Credentials }>

/** A `tls` block with its certificate, key and CA read (and checked to make a usable context). */
export type LoadedTls = TlsSpec & Readonly<{ pem: Readonly<{ cert: Buffer, key: Buffer, ca: Buffer | undefined }> }>

/** A route whose program is an absolute path and whose `auth` has its accounts read. */
export type LoadedRoute = Route & Readonly<{ auth: LoadedAuth | null }>

/** What reading the files of a {@link Config} makes, before `loadConfig` vouches for it. */
export type LoadedParts = Readonly<Omit<Config, 'routes' | 'auth' | 'security'> & {
  routes: readonly LoadedRoute[]
  auth: LoadedAuth | null
  security: Readonly<Omit<ServerSecurity, 'tls'> & { tls: LoadedTls | null }>
}>

declare const LOADED: unique symbol

/**
 * A configuration ready to serve: validated, programs resolved, every credential file and the TLS
 * material read. Only `loadConfig` and its variants make one; `buildServer` takes nothing less.
 */
export type LoadedConfig = LoadedParts & { readonly [LOADED]: true }
