import { resolveContainments } from './contain.js'
import { resolveExecutables } from './executables.js'
import { readSecurityFiles } from './files.js'
import { loadConfigFile, parseConfig } from './load.js'
import type { Config, LoadedConfig, LoadedParts } from './model.js'

/** Settings that replace the file's (the command line's `--host`, `--port`, …); absent ones keep it. */
export interface ConfigOverrides {
  readonly host?: string
  readonly port?: number
  /** A Unix socket to listen on. Without it, a `host` or `port` override drops the file's socket. */
  readonly socket?: string
  readonly drainTimeoutMs?: number
  readonly console?: boolean
}

/** Where a configuration is read in. */
export interface LoadContext {
  /** The folder a relative file name is resolved against (default: the process's working folder). */
  readonly cwd?: string
  /** The server's environment: the PATH programs are searched in, `tokensEnv` variables. Default: none. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** Where configuration text comes from: `source` names it in errors, relative paths resolve against `baseDir`. */
export interface TextContext {
  /** Default: `<text>`. */
  readonly source?: string
  /** Default: the process's working folder. */
  readonly baseDir?: string
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * Reads a YAML configuration file (relative to `context.cwd`) and makes it ready to serve:
 * validates it, resolves each route's program, reads the credential files and the TLS material,
 * and applies `overrides`.
 * @throws {ConfigError} naming file, line, column and key of every problem.
 */
export async function loadConfig (file: string, overrides: ConfigOverrides = {}, context: LoadContext = {}): Promise<LoadedConfig> {
  const env = context.env ?? {}
  return finish(await loadConfigFile(file, context.cwd, { env }), overrides, env)
}

/**
 * {@link loadConfig} for configuration text already in memory (YAML, or JSON, which is YAML).
 * @throws {ConfigError} naming the line, column and key of every problem.
 */
export async function loadConfigText (text: string, overrides: ConfigOverrides = {}, context: TextContext = {}): Promise<LoadedConfig> {
  const env = context.env ?? {}
  return finish(parseConfig(text, context.source ?? '<text>', context.baseDir ?? process.cwd(), { env }), overrides, env)
}

/**
 * {@link loadConfig} for a configuration given as an object (the file's shape, as `ConfigInput`).
 * @throws {ConfigError} naming the key of every problem.
 */
export async function loadConfigObject (input: unknown, overrides: ConfigOverrides = {}, context: TextContext = {}): Promise<LoadedConfig> {
  return loadConfigText(JSON.stringify(input), overrides, context)
}

async function finish (config: Config, overrides: ConfigOverrides, env: Readonly<Record<string, string | undefined>>): Promise<LoadedConfig> {
  const loaded = await readSecurityFiles(await resolveContainments(await resolveExecutables(config, env)), env)
  // The only place a LoadedConfig is made: everything it promises was read above.
  return applyOverrides(loaded, overrides) as LoadedConfig
}

function applyOverrides (config: LoadedParts, o: ConfigOverrides): LoadedParts {
  const moved = o.host !== undefined || o.port !== undefined
  return Object.freeze({
    ...config,
    listen: Object.freeze({
      host: o.host ?? config.listen.host,
      port: o.port ?? config.listen.port,
      socket: o.socket ?? (moved ? undefined : config.listen.socket)
    }),
    shutdown: Object.freeze({ drainTimeoutMs: o.drainTimeoutMs ?? config.shutdown.drainTimeoutMs }),
    console: o.console ?? config.console
  })
}
