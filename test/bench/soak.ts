/**
 * Soak: many clients churning sessions against one wsexec server for minutes, then a `kill -9` of
 * the server. Checks what issue 14 asks of process start under load:
 * - no handshake timeouts (10 s, as the field soak used), every session's data byte-exact, every
 *   close code the one its program earned;
 * - `/healthz` keeps answering during the load (latency p50/p99/max reported);
 * - no process of any session left once the load stops;
 * - after `kill -9` of the server with sessions open (sleepers, background grandchildren,
 *   SIGTERM-ignoring loops), no process of any session alive 5 s later.
 *
 * Every program runs with `SOAK_RUN=<id>` in its environment (inherited by grandchildren), so the
 * soak finds them in /proc whatever their parent or process group.
 *
 * Usage: npm run build && npx tsx test/bench/soak.ts [--clients 50] [--seconds 300] [--config FILE]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { WebSocket } from 'ws'
import { stringify } from 'yaml'
import { pickFreePort } from './servers.js'

const HOST = '127.0.0.1'
const HANDSHAKE_TIMEOUT_MS = 10_000
const SESSION_DEADLINE_MS = 30_000
const KILL_CHECK_MS = 5_000

const { values: options } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '300' },
    'open-at-kill': { type: 'string', default: '25' }
  }
})
const clients = Number(options.clients)
const seconds = Number(options.seconds)
const openAtKill = Number(options['open-at-kill'])
const runId = randomBytes(6).toString('hex')

const sh = (script: string): string[] => ['/bin/sh', '-c', script]
const routes = {
  '/echo': { command: ['cat'] },
  '/count/:n': { command: ['seq', '1', '{n}'], params: { n: '^[0-9]{1,6}$' } },
  '/exit/:n': { command: [...sh('echo bye; exit "$0"'), '{n}'], params: { n: '^[0-9]{1,2}$' } },
  '/background': { command: sh('sleep 600 & echo started; read line; echo "got $line"') },
  '/stubborn': { command: sh('trap "" TERM INT HUP; echo ready; while :; do sleep 1; done') },
  '/sleeper': { command: ['sleep', '600'] }
}

interface Tally {
  sessions: number
  handshakeTimeouts: number
  refused: Map<string, number>
  mismatches: string[]
  abandoned: number
}
const tally: Tally = { sessions: 0, handshakeTimeouts: 0, refused: new Map(), mismatches: [], abandoned: 0 }

function count (map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

/** The pids of processes that carry this run's marker in their environment. */
async function markedPids (): Promise<number[]> {
  const marker = Buffer.from(`SOAK_RUN=${runId}\0`)
  const found: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const environ = await readFile(`/proc/${name}/environ`)
      if (environ.includes(marker)) found.push(Number(name))
    } catch { /* gone meanwhile */ }
  }
  return found
}

/** Waits (polling /proc every 100 ms, up to `ms`) until no marked process is left; returns the count left and the time taken. */
async function waitForNoMarked (ms: number): Promise<{ left: number, tookMs: number }> {
  const start = Date.now()
  for (;;) {
    const left = (await markedPids()).length
    if (left === 0 || Date.now() - start >= ms) return { left, tookMs: Date.now() - start }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface Outcome { messages: string[], code: number, reason: string }

/** Opens a session, runs `script` on it, and resolves with everything received and the close. */
async function session (port: number, path: string, script: (ws: WebSocket, received: string[]) => void): Promise<Outcome | 'timeout' | string> {
  const ws = new WebSocket(`ws://${HOST}:${port}${path}`, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS })
  const messages: string[] = []
  return await new Promise((resolve) => {
    const deadline = setTimeout(() => { ws.terminate(); resolve(`no close within ${SESSION_DEADLINE_MS} ms`) }, SESSION_DEADLINE_MS)
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(deadline)
      resolve(`HTTP ${res.statusCode ?? '?'}`)
      ws.terminate()
    })
    ws.on('error', (err) => {
      clearTimeout(deadline)
      resolve(/timed out/i.test(err.message) ? 'timeout' : err.message)
    })
    ws.on('open', () => { script(ws, messages) })
    ws.on('message', (data) => { messages.push(String(data)) })
    ws.on('close', (code, reason) => {
      clearTimeout(deadline)
      resolve({ messages, code, reason: String(reason) })
    })
  })
}

function expect (what: string, outcome: Outcome, messages: string[], code: number): void {
  const ok = outcome.code === code && outcome.messages.length === messages.length && outcome.messages.every((m, i) => m === messages[i])
  if (!ok && tally.mismatches.length < 20) {
    tally.mismatches.push(`${what}: got ${outcome.messages.length} messages, close ${outcome.code} ${outcome.reason}; expected ${messages.length}, close ${code}`)
  } else if (!ok) tally.mismatches.push('')
}

/** One client: picks a kind of session at random, checks it, repeats until `until`. */
async function churn (port: number, until: number): Promise<void> {
  while (Date.now() < until) {
    const kind = Math.floor(Math.random() * 6)
    let result: Outcome | 'timeout' | string
    let check: ((o: Outcome) => void) | undefined
    if (kind === 0) {
      const lines = Array.from({ length: 1 + Math.floor(Math.random() * 50) }, () => randomBytes(1 + Math.floor(Math.random() * 200)).toString('base64'))
      result = await session(port, '/echo', (ws, received) => {
        ws.on('message', () => { if (received.length === lines.length) ws.close(1000) })
        for (const line of lines) ws.send(line)
      })
      // The client closes: the server answers 1000, or the program's own close if it won the race.
      check = (o) => { expect('echo', { ...o, code: 1000 }, lines, 1000) }
    } else if (kind === 1) {
      const n = 1 + Math.floor(Math.random() * 20_000)
      result = await session(port, `/count/${n}`, () => {})
      check = (o) => { expect(`count/${n}`, o, Array.from({ length: n }, (_, i) => String(i + 1)), 1000) }
    } else if (kind === 2) {
      const n = Math.floor(Math.random() * 100)
      result = await session(port, `/exit/${n}`, () => {})
      check = (o) => { expect(`exit/${n}`, o, ['bye'], n === 0 ? 1000 : 4000 + n) }
    } else if (kind === 3) {
      const word = randomBytes(8).toString('hex')
      result = await session(port, '/background', (ws) => { ws.send(word) })
      check = (o) => { expect('background', o, ['started', `got ${word}`], 1000) }
    } else if (kind === 4) {
      // The client leaves without a close frame once the program is running.
      result = await session(port, '/stubborn', (ws) => { ws.on('message', () => { ws.terminate() }) })
      tally.abandoned++
    } else {
      // The client gives up right after sending the upgrade request.
      result = await new Promise((resolve) => {
        const ws = new WebSocket(`ws://${HOST}:${port}/sleeper`)
        ws.on('error', () => {})
        setImmediate(() => { ws.terminate(); resolve('abandoned') })
      })
      tally.abandoned++
      continue
    }
    if (result === 'timeout') tally.handshakeTimeouts++
    else if (typeof result === 'string') count(tally.refused, result)
    else {
      tally.sessions++
      check?.(result)
    }
  }
}

/** `/healthz` latency samples, one per 500 ms, each with a 10 s deadline. */
async function probeHealth (port: number, until: number): Promise<number[]> {
  const samples: number[] = []
  while (Date.now() < until) {
    const start = process.hrtime.bigint()
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: HOST, port, path: '/healthz', timeout: 10_000 }, (res) => { res.resume(); res.on('end', () => { resolve(res.statusCode === 200) }) })
      req.on('timeout', () => { req.destroy(); resolve(false) })
      req.on('error', () => { resolve(false) })
      req.end()
    })
    samples.push(ok ? Number(process.hrtime.bigint() - start) / 1e6 : Infinity)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return samples
}

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'soak-'))
  const port = await pickFreePort()
  const withMarker = Object.fromEntries(Object.entries(routes).map(([path, route]) => [path, { ...route, env: { SOAK_RUN: runId }, closeGrace: '500ms', killGrace: '1s' }]))
  const config = join(dir, 'routes.yaml')
  await writeFile(config, stringify({ listen: { host: HOST, port }, maxSessions: 1000, maxSessionsPerClient: 1000, routes: withMarker }))
  const bin = resolve('dist/bin.js')
  const server = spawn(process.execPath, [bin, '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
  try {
    for (let tries = 0; ; tries++) {
      const up = await new Promise<boolean>((resolve) => {
        const req = request({ host: HOST, port, path: '/healthz', timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
        req.on('error', () => { resolve(false) })
        req.end()
      })
      if (up) break
      if (tries > 200 || server.exitCode !== null) throw new Error('the server did not start')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const until = Date.now() + seconds * 1000
    console.log(`soak ${runId}: ${clients} clients for ${seconds} s on port ${port} (server pid ${server.pid ?? '?'}), load ${(await readFile('/proc/loadavg', 'utf8')).trim()}`)
    const [health] = await Promise.all([probeHealth(port, until), ...Array.from({ length: clients }, async () => { await churn(port, until) })])
    const sorted = health.slice().sort((a, b) => a - b)
    console.log(`sessions ${tally.sessions}, handshake timeouts ${tally.handshakeTimeouts}, abandoned ${tally.abandoned}, mismatches ${tally.mismatches.length}`)
    for (const [what, n] of tally.refused) console.log(`  refused/failed: ${what} × ${n}`)
    for (const line of tally.mismatches.filter(Boolean).slice(0, 10)) console.log(`  mismatch: ${line}`)
    console.log(`/healthz during the load: ${health.length} samples, p50 ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1) ?? '-'} ms, failed ${health.filter((x) => x === Infinity).length}`)
    const after = await waitForNoMarked(10_000)
    console.log(`after the load: ${after.left} session processes left (waited ${after.tookMs} ms)`)

    // Sessions open at the kill: sleepers, background grandchildren, SIGTERM-ignoring loops.
    const open: WebSocket[] = []
    for (let i = 0; i < openAtKill; i++) {
      const path = ['/sleeper', '/background', '/stubborn'][i % 3] as string
      const ws = new WebSocket(`ws://${HOST}:${port}${path}`, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS })
      ws.on('error', () => {})
      await once(ws, 'open')
      open.push(ws)
    }
    for (let tries = 0; (await markedPids()).length < openAtKill && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 100))
    const before = (await markedPids()).length
    server.kill('SIGKILL')
    await once(server, 'exit')
    const killed = await waitForNoMarked(KILL_CHECK_MS)
    console.log(`kill -9 with ${openAtKill} sessions open (${before} processes): ${killed.left} left after ${killed.tookMs} ms`)
    for (const ws of open) ws.terminate()
    const pass = tally.handshakeTimeouts === 0 && tally.mismatches.length === 0 && after.left === 0 && killed.left === 0
    console.log(pass ? 'PASS' : 'FAIL')
    process.exitCode = pass ? 0 : 1
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL')
    for (const pid of await markedPids()) { try { process.kill(pid, 'SIGKILL') } catch {} }
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
