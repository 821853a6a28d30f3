import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Test } from 'tap'

/** The Debian package that provides each program the tests run. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  nginx: 'nginx-light',
  chromium: 'chromium',
  bc: 'bc',
  websocketd: 'websocketd',
  script: 'bsdutils',
  tmux: 'tmux',
  python3: 'python3'
}

/** The absolute path of `program` in PATH, or undefined. */
export function findProgram (program: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    try {
      accessSync(join(dir, program), constants.X_OK)
      return join(dir, program)
    } catch {}
  }
  return undefined
}

/**
 * Fails `t` at once, naming the `apt-get install` line, when `program` is not installed (instead
 * of a test timing out later); returns whether it is there.
 */
export function needProgram (t: Test, program: string, path?: string): boolean {
  if (findProgram(program, path) !== undefined) return true
  t.fail(missingMessage(program))
  return false
}

/** `PROGRAM is not installed: apt-get install …`, the message of {@link needProgram}. */
export function missingMessage (program: string): string {
  const pkg = DEBIAN_PACKAGES[program] ?? program
  return `${program} is not installed: apt-get install -y --no-install-recommends ${pkg} (or run .ci/run, which installs what the tests use)`
}
