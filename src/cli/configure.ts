import type { LoadedConfig } from '../config/model.js'
import type { ConfigOverrides } from '../config/pipeline.js'
import type { Options } from './args.js'
import type { CliIO } from './io.js'

/** The configuration the command line names (a file, a COMMAND or --dir), loaded by the same pipeline as the package's `loadConfig`. */
export async function loadFromOptions (options: Options, io: CliIO, notes: string[] = []): Promise<LoadedConfig> {
  const { loadConfig, loadConfigObject } = await import('../config/pipeline.js')
  const overrides: ConfigOverrides = {
    ...(options.hosts[0] !== undefined && { host: options.hosts[0] }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.socket !== undefined && { socket: options.socket }),
    ...(options.drainTimeoutMs !== undefined && { drainTimeoutMs: options.drainTimeoutMs }),
    ...(options.console && { console: true })
  }
  if (options.command.length > 0 || options.websocketd.dir !== undefined) {
    const { buildConfigInput } = await import('./websocketd.js')
    const built = buildConfigInput(options, io.cwd)
    notes.push(...built.notes)
    return loadConfigObject(built.input, overrides, { source: '<command line>', baseDir: io.cwd, env: io.env })
  }
  return loadConfig(options.config, overrides, { cwd: io.cwd, env: io.env })
}
