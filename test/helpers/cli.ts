import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { main, type CliIO } from '../../src/cli/main.js'

/** The repository's root folder, where `config/routes.yaml` is found. */
export const root = fileURLToPath(new URL('../..', import.meta.url))

/** What one run of the command gave. */
export interface Run { code: number, stdout: string, stderr: string }

/** Runs `main(argv)` in this process from the repository root, capturing its output. */
export async function runCli (argv: string[], extra: Partial<CliIO> = {}): Promise<Run> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: Buffer[] = []
  const err: Buffer[] = []
  stdout.on('data', (d: Buffer) => out.push(d))
  stderr.on('data', (d: Buffer) => err.push(d))
  const code = await main(argv, { stdout, stderr, env: { PATH: process.env['PATH'] }, cwd: root, ...extra })
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }
}
