import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { stringify } from 'yaml'
import { readProgramPids } from './proc.js'

/** The two servers compared. */
export type ServerKind = 'wsexec' | 'websocketd'

/** One route: the URL path and the program with its arguments (absolute path, no shell). */
export interface Route {
  path: string
  argv: readonly string[]
  /** More settings of wsexec's route (limits a scenario must raise); websocketd has no such limits. */
  wsexec?: Readonly<Record<string, unknown>>
}

/** What stopping a server found. */
export interface StopReport {
  /** Children the server still had when the drain wait ran out (sessions not cleaned up). */
  leftoverChildren: number
  /** True when SIGTERM was not enough and SIGKILL was sent. */
  killed: boolean
}

/** A started server. `stop()` must be called (in a finally) to kill it. */
export interface RunningServer {
  kind: ServerKind
  pid: number
  host: string
  port: number
  /** Waits (up to `drainMs`) for the server's children to go, then SIGTERM, then SIGKILL after 5 s. */
  stop: (drainMs?: number) => Promise<StopReport>
}

/** Where the programs are: the repo root (for dist/bin.js) and the websocketd binary. */
export interface ServerPaths {
  repoDir: string
  websocketdPath: string
}

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 10_000
const STDERR_TAIL_BYTES = 4096
/** Servers still running, with the temp folder of each, for {@link killStartedServers}. */
const started = new Map<ChildProcess, string>()

/** A port that was free a moment ago on 127.0.0.1 (listen on 0, read the number, close). */
export async function pickFreePort (): Promise<number> {
  const server = createServer()
  server.listen(0, HOST)
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('could not read a free port')
  return address.port
}

/** Path of the built wsexec server (dist/bin.js under the repo). */
export function wsexecBin (paths: ServerPaths): string {
  return join(paths.repoDir, 'dist', 'bin.js')
}

async function portAccepts (port: number): Promise<boolean> {
  const socket = connect({ host: HOST, port })
  try {
    await once(socket, 'connect', { signal: AbortSignal.timeout(1000) })
    return true
  } catch {
    return false
  } finally {
    socket.destroy()
  }
}

async function waitForExit (child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  try {
    await once(child, 'exit', { signal: AbortSignal.timeout(ms) })
    return true
  } catch {
    return false
  }
}

async function writeWsexecConfig (dir: string, port: number, route: Route): Promise<string> {
  const file = join(dir, 'wsexec.yaml')
  const config = {
    listen: { host: HOST, port },
    // One benchmark client opens up to 500 sessions at once: lift the per-address limit (default
    // 100) to the server-wide one (maxSessions, default 1000), as a deployment behind a proxy
    // without trustProxy would. Nothing else is raised: a burst of upgrades waits in the start
    // queue, whose bound (maxPendingSpawns) defaults to maxSessions, as websocketd serves them all.
    maxSessionsPerClient: 1000,
    // WSEXEC_BENCH_SPAWNERS=0 compares the in-process start with the spawners (default: wsexec's own).
    ...(process.env['WSEXEC_BENCH_SPAWNERS'] === undefined ? {} : { spawners: Number(process.env['WSEXEC_BENCH_SPAWNERS']) }),
    routes: { [route.path]: { command: [...route.argv], mode: 'text', ...route.wsexec } }
  }
  await writeFile(file, stringify(config))
  return file
}

/** The node options on the first line of `bin` (`#!/usr/bin/env -S node --flag …`). */
function shebangFlags (bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] as string
  const m = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first)
  return m === null ? [] : (m[1] as string).trim().split(/\s+/)
}

/**
 * Starts one server on 127.0.0.1 with a single route, and waits (up to 10 s) until its port accepts
 * connections. websocketd runs the command directly (no wrapper shell), so both servers spawn the same program.
 * Throws with the server's stderr when it exits or does not listen in time.
 */

export async function startServer (kind: ServerKind, route: Route, paths: ServerPaths): Promise<RunningServer> {
  const bin = wsexecBin(paths)
  if (kind === 'wsexec' && !existsSync(bin)) throw new Error(`${bin} does not exist: run npm run build first`)
  const port = await pickFreePort()
  const dir = await mkdtemp(join(tmpdir(), `bench-${kind}-`))
  let command: string
  let args: string[]
  if (kind === 'wsexec') {
    const config = await writeWsexecConfig(dir, port, route)
    command = process.execPath
    // The node flags of the installed command's shebang, so wsexec runs as users run it.
    args = [...shebangFlags(bin), bin, '--config', config, '--host', HOST, '--port', String(port), '--log-level', 'warn']
  } else {
    command = paths.websocketdPath
    args = [`--port=${port}`, `--address=${HOST}`, '--loglevel=error', ...route.argv]
  }
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir })
  started.set(child, dir)
  let stderrTail = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => { stderrTail = (stderrTail + text).slice(-STDERR_TAIL_BYTES) })
  child.on('error', (err) => { stderrTail += `\n${err.message}` })
  child.on('exit', () => { started.delete(child) })

  const stop = async (drainMs = 3000): Promise<StopReport> => {
    const children = (): number => child.pid === undefined ? 0 : readProgramPids(child.pid).length
    const drainDeadline = Date.now() + drainMs
    while (children() > 0 && Date.now() < drainDeadline) await sleep(20)
    const leftoverChildren = children()
    let killed = false
    if (child.pid !== undefined && child.kill('SIGTERM') && !await waitForExit(child, 5000)) {
      killed = true
      child.kill('SIGKILL')
      await waitForExit(child, 2000)
    }
    await rm(dir, { recursive: true, force: true })
    return { leftoverChildren, killed }
  }

  try {
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!await portAccepts(port)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${kind} exited (${child.exitCode ?? child.signalCode}) before listening: ${stderrTail.trim()}`)
      }
      if (Date.now() > deadline) throw new Error(`${kind} did not listen on ${HOST}:${port} within ${START_TIMEOUT_MS} ms: ${stderrTail.trim()}`)
      await sleep(50)
    }
  } catch (err) {
    await stop(0)
    throw err
  }
  return { kind, pid: child.pid, host: HOST, port, stop }
}

/** Sends SIGKILL to every server this process started that is still running, and removes their temp folders (for a hard abort). */
export function killStartedServers (): void {
  for (const [child, dir] of started) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}
