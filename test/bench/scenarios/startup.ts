import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { readCpuMs, readRssKiB } from '../proc.js'
import { pickFreePort } from '../servers.js'
import { percentile } from '../stats.js'
import { formatCount } from './helpers.js'
import type { Scenario, ScenarioContext } from './types.js'

const REPO_DIR = fileURLToPath(new URL('../../..', import.meta.url))
const WEBSOCKETD_PATH = '/usr/bin/websocketd'
/** How often the port is tried while a server starts, in ms: the resolution of the figure. */
const POLL_MS = 2
/** How long a started server is left alone before its RSS at rest is read, in ms (lazy start-up work settles). */
const REST_MS = 500

async function accepts (port: number): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port })
  try {
    await once(socket, 'connect')
    return true
  } catch {
    return false
  } finally {
    socket.destroy()
  }
}

/**
 * Starts one more server of the run's kind, on the bundled config (wsexec) or `cat` (websocketd): ms and
 * CPU ms until its port accepts, and its RSS at rest (KiB) 500 ms later.
 */
async function startOnce (ctx: ScenarioContext): Promise<{ listenMs: number, cpuMs: number, rssKiB: number }> {
  const port = await pickFreePort()
  const [command, args] = ctx.server.kind === 'wsexec'
    ? [process.execPath, [join(REPO_DIR, 'dist/bin.js'), '-c', join(REPO_DIR, 'config/routes.yaml'), '--port', String(port), '--log-level', 'warn']]
    : [WEBSOCKETD_PATH, [`--port=${port}`, '--address=127.0.0.1', '--loglevel=error', '/usr/bin/cat']]
  const startMs = performance.now()
  const child = spawn(command, args, { stdio: 'ignore', cwd: REPO_DIR })
  try {
    while (!await accepts(port)) {
      if (ctx.signal.aborted || child.exitCode !== null) throw new Error(`${ctx.server.kind} did not listen (exit ${String(child.exitCode)})`)
      await sleep(POLL_MS)
    }
    const listenMs = performance.now() - startMs
    const cpuMs = readCpuMs(child.pid as number)
    await sleep(REST_MS)
    return { listenMs, cpuMs, rssKiB: readRssKiB(child.pid as number) }
  } finally {
    child.kill('SIGKILL')
    if (child.exitCode === null) await once(child, 'exit')
  }
}

/** Time from starting the server to its port accepting connections, and the CPU it took. */
export const startup: Scenario = {
  name: 'startup',
  describe: (c) => `${formatCount(c.startupRuns)} starts (wsexec on config/routes.yaml, websocketd on cat): ms until the port accepts, CPU ms by then, RSS 500 ms later`,
  metrics: [
    { key: 'listenP50Ms', label: 'to listening p50', unit: 'ms', better: 'lower' },
    { key: 'listenMaxMs', label: 'to listening max', unit: 'ms', better: 'lower' },
    { key: 'cpuP50Ms', label: 'CPU by then p50', unit: 'ms', better: 'lower' },
    { key: 'rssAtRestMiB', label: 'RSS at rest p50', unit: 'MiB', better: 'lower' }
  ],
  route: () => ({ path: '/hello', argv: ['/usr/bin/echo', 'hello'] }),
  timeoutMs: (c) => c.startupRuns * 10_000,
  async run (ctx) {
    const listen: number[] = []
    const cpu: number[] = []
    const rss: number[] = []
    for (let i = 0; i < ctx.counts.startupRuns && !ctx.signal.aborted; i++) {
      const r = await startOnce(ctx)
      listen.push(r.listenMs)
      cpu.push(r.cpuMs)
      rss.push(r.rssKiB / 1024)
    }
    return {
      values: { listenP50Ms: percentile(listen, 50), listenMaxMs: Math.max(...listen), cpuP50Ms: percentile(cpu, 50), rssAtRestMiB: percentile(rss, 50) },
      notes: ctx.signal.aborted ? ['time budget ran out'] : []
    }
  }
}
