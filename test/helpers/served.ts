import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { root } from './cli.js'
import { connect, DEADLINE_MS, type Client } from './client.js'
import { isRunning } from './processes.js'
import { rawUpgrade, type RawConnection } from './raw.js'
import { node } from './server.js'

/** How long a stopping server may take in these tests: far above drainTimeout + killGrace + 5 s. */
export const STOP_DEADLINE_MS = 60_000

/** How long a server process may take to start: transpiling the sources on a loaded machine is slow. */
export const START_DEADLINE_MS = 90_000

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
  const listening = await logged({ child, records } as Served, 'listening on ', START_DEADLINE_MS)
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

/** Routes whose sessions can be left in every odd state a stop has to get past. */
export const ODD_ROUTES = `maxSessionsPerClient: 1000
routes:
  /any/:x:
    command: [echo, "{x}"]
    params: { x: "[^/]+" }
    killGrace: 500ms
  /stubborn:
    command: ${node('ignore-term.mjs')}
    killGrace: 500ms
  /flood:
    command: ${node('yes.mjs')}
    killGrace: 500ms
  /orphan:
    command: ${node('setsid-orphan.mjs', 'stay')}
    closeGrace: 200ms
    killGrace: 200ms
`

/** Sessions in odd states: spawn failed with a client that never answers the close, a program that ignores SIGTERM, a client that stops reading a flood, a grandchild of its own session holding stdout. */
export async function oddSessions (t: Test, s: Served): Promise<{ silent: RawConnection, stubborn: Closing, orphan: Closing }> {
  const silent = await rawUpgrade(s.port, '/any/a%00b')
  const stubborn = connect(`${s.url}/stubborn`)
  const stubbornClosed = closing(stubborn)
  t.same(await stubborn.received(1), ['ready'])
  const flood = await rawUpgrade(s.port, '/flood')
  flood.socket.pause()
  const orphan = connect(`${s.url}/orphan`)
  const orphanClosed = closing(orphan)
  const pid = Number((await orphan.received(1))[0])
  t.teardown(() => { if (isRunning(pid)) process.kill(pid, 'SIGKILL') })
  return { silent, stubborn: stubbornClosed, orphan: orphanClosed }
}

export type Closing = Promise<{ code: number, reason: string }>

/** The client's close, waited for until the stop's own deadline (the client's is counted from its connection). */
export function closing (c: Client): Closing {
  const closed = once(c.ws, 'close', { signal: AbortSignal.timeout(STOP_DEADLINE_MS) }).then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  closed.catch(() => {})
  return closed
}
