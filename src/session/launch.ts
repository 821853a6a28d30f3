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
  const { file, args, argv0 } = invocation(o)
  const child = execa(file, args, {
    argv0,
    ...(o.route.cwd === undefined ? {} : { cwd: o.route.cwd }),
    env: o.env,
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: pipesStderr(o) ? 'pipe' : 'ignore',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    stripFinalNewline: false
  })
  return child
}

/** `2>&1` as sh's fixed script: the program and its arguments are sh's positional parameters, never parsed. */
const MERGE_SCRIPT = 'exec "$0" "$@" 2>&1'

/**
 * What to execute: the program, or for `stderr: merge` /bin/sh running {@link MERGE_SCRIPT}, which
 * makes fd 2 a copy of fd 1 and replaces itself with the program (which then sees its resolved
 * path as `argv[0]`): one pipe, so the order of stdout and stderr is the program's.
 */
function invocation (o: ProgramSpec): { file: string, args: readonly string[], argv0: string } {
  if (stderrUse(o.route, o.streams) !== 'stdout') return { file: o.file, args: o.args, argv0: o.route.command[0] as string }
  return { file: '/bin/sh', args: ['-c', MERGE_SCRIPT, o.file, ...o.args], argv0: 'sh' }
}

/** Whether the program's stderr is a pipe of its own (else /dev/null, or stdout's for `merge`). */
function pipesStderr (o: ProgramSpec): boolean {
  const use = stderrUse(o.route, o.streams)
  return use === 'frames' || use === 'log'
}

/**
 * What a spawner needs to start the program as {@link spawnProgram} would, or as
 * {@link spawnTerminal} would on a tty route (spawner/terminal.mjs passes node-pty the same options).
 */
export function spawnSpec (o: ProgramSpec): SpawnSpec {
  const spec = {
    ...invocation(o),
    cwd: o.route.cwd,
    env: o.env,
    stderr: pipesStderr(o),
    killGraceMs: o.route.killGraceMs
  }
  if (!o.route.tty) return spec
  return { ...spec, terminal: { cols: o.streams.size.cols, rows: o.streams.size.rows, term: terminalName(o.env) } }
}

/** Starts the program on a pseudo-terminal of the session's size (see {@link TerminalProcess}: node-pty, not execa). */
export function spawnTerminal (o: ProgramSpec): TerminalProcess {
  return new TerminalProcess({ file: o.file, args: o.args, env: o.env, cwd: o.route.cwd, cols: o.streams.size.cols, rows: o.streams.size.rows })
}
