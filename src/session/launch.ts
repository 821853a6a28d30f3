// How a session's program is started: with execa in this process, by a spawner from a
// SpawnSpec (spawner/worker.mjs passes execa the same options, spawner/terminal.mjs node-pty's:
// keep them in step), or on a pseudo-terminal with node-pty in this process (`spawners: 0`). What happens to it once it runs is program.ts's.
import { execa } from 'execa'
import type { SpawnSpec } from '../spawner/protocol.js'
import { descriptorShortage } from './descriptors.js'
import type { ProgramSpec } from './program.js'
import { TerminalProcess, terminalName } from './pty.js'
import { stderrUse } from './streams.js'

/**
 * Starts the program with execa, without a shell, as the leader of a new process group, with
 * exactly `env`. A child without a pid failed to start: its result says why (`reject: false`).
 * @throws when the server is out of descriptors (EMFILE, ENFILE: see {@link descriptorShortage}),
 * on invalid arguments (a NUL byte: ERR_INVALID_ARG_VALUE) and on errors such as E2BIG.
 */
export function spawnProgram (o: ProgramSpec) {
  const shortage = descriptorShortage()
  if (shortage !== undefined) throw shortage
  const child = execa(o.file, o.args, {
    argv0: o.route.command[0] as string,
    ...(o.route.cwd === undefined ? {} : { cwd: o.route.cwd }),
    env: o.env,
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: stderrUse(o.route, o.streams) === 'none' ? 'ignore' : 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    stripFinalNewline: false
  })
  return child
}

/**
 * What a spawner needs to start the program as {@link spawnProgram} would, or as
 * {@link spawnTerminal} would on a tty route (spawner/terminal.mjs passes node-pty the same options).
 */
export function spawnSpec (o: ProgramSpec): SpawnSpec {
  const spec = {
    file: o.file,
    args: o.args,
    argv0: o.route.command[0] as string,
    cwd: o.route.cwd,
    env: o.env,
    stderr: stderrUse(o.route, o.streams) !== 'none',
    killGraceMs: o.route.killGraceMs
  }
  if (!o.route.tty) return spec
  return { ...spec, terminal: { cols: o.streams.size.cols, rows: o.streams.size.rows, term: terminalName(o.env) } }
}

/** Starts the program on a pseudo-terminal of the session's size (see {@link TerminalProcess}: node-pty, not execa). */
export function spawnTerminal (o: ProgramSpec): TerminalProcess {
  return new TerminalProcess({ file: o.file, args: o.args, env: o.env, cwd: o.route.cwd, cols: o.streams.size.cols, rows: o.streams.size.rows })
}
