import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { root } from './cli.js'
import { DEADLINE_MS } from './client.js'

/** How long a stopping server may take in these tests: far above drainTimeout + killGrace + 5 s. */
export const STOP_DEADLINE_MS = 60_000

/** A `wsexec` process started from the test, with its JSON log. */
export interface Served {
  child: ChildProcess
  /** ws://127.0.0.1:port */
  url: string
  port: number
  records: Array<Record<string, unknown>>
  /** The exit code, once the process has ended. */
  exited: Promise<number | null>
}

/** Writes `yaml` to a temporary routes file and runs `wsexec -c` on it (under `prlimit` when given), port 0. */
export async function serve (t: Test, yaml: string, options: { drainTimeout: string, prlimit?: string[] }): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-hard-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'routes.yaml')
  await writeFile(file, yaml)
  const argv = [process.execPath, ...process.execArgv, join(root, 'src/bin.ts'), '-c', file, '--port', '0', '--drain-timeout', options.drainTimeout]
  const [command, ...args] = options.prlimit === undefined ? argv : ['prlimit', ...options.prlimit, ...argv]
  const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const records: Array<Record<string, unknown>> = []
  let pending = ''
  child.stdout?.on('data', (d: Buffer) => {
    pending += d.toString()
    const lines = pending.split('\n')
    pending = lines.pop() as string
    for (const line of lines) records.push(JSON.parse(line) as Record<string, unknown>)
    child.emit('records')
  })
  const listening = await logged({ child, records } as Served, 'listening on ', 30_000)
  const port = Number(/:([0-9]+)$/.exec(String(listening['msg']))?.[1])
  return { child, url: `ws://127.0.0.1:${port}`, port, records, exited }
}

/** The `count`th log record whose message starts with `msg`, once it has been written. */
export async function logged (s: Pick<Served, 'child' | 'records'>, msg: string, deadlineMs = DEADLINE_MS, count = 1): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(deadlineMs)
  const found = (): Array<Record<string, unknown>> => s.records.filter((r) => String(r['msg']).startsWith(msg))
  while (found().length < count) await once(s.child, 'records', { signal })
  return found()[count - 1] as Record<string, unknown>
}

/** The exit code of a process that must end within {@link STOP_DEADLINE_MS}. */
export async function exitCode (s: Served): Promise<number | null> {
  const timer = new AbortController()
  const deadline = new Promise<never>((_resolve, reject) => {
    const handle = setTimeout(() => reject(new Error('the server did not stop')), STOP_DEADLINE_MS)
    timer.signal.addEventListener('abort', () => clearTimeout(handle))
  })
  try {
    return await Promise.race([s.exited, deadline])
  } finally {
    timer.abort()
  }
}
