import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { loadConfigText } from '../../src/config/pipeline.js'
import { buildServer } from '../../src/server/build.js'
import { until } from './client.js'

/** A pino record as parsed from the server's log. */
export type LogRecord = Record<string, unknown> & { msg: string, level: number }

/** A server under test, listening on 127.0.0.1 with a free port. */
export interface TestServer {
  app: FastifyInstance
  url: string
  port: number
  logs: LogRecord[]
}

/** Absolute path of a fixture program under test/fixtures. */
export function fixture (name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))
}

/** A log sink that parses each JSON line into `records`. */
export function logSink (records: LogRecord[]): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') records.push(JSON.parse(line) as LogRecord)
      }
      callback()
    }
  })
}

interface Closable { teardown (fn: () => unknown): void }

/**
 * Starts a server for the YAML `routes` text (the `routes:` block's body is enough when it
 * starts with `/`), on 127.0.0.1 port 0, and closes it when the test ends.
 */
export async function startServer (t: Closable, yaml: string, env: Record<string, string | undefined> = { PATH: process.env['PATH'] }): Promise<TestServer> {
  const text = yaml.trimStart().startsWith('/') ? `routes:\n${yaml.replace(/^/gm, '  ')}` : yaml
  const config = await loadConfigText(text, {}, { source: 'test.yaml', baseDir: process.cwd(), env })
  const logs: LogRecord[] = []
  const logger = pino({ level: 'debug' }, logSink(logs))
  const app = await buildServer(config, { logger, env })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  const scheme = config.security.tls === null ? 'ws' : 'wss'
  return { app, url: `${scheme}://127.0.0.1:${address.port}`, port: address.port, logs }
}

/** A JSON string for YAML flow sequences: `[${q(process.execPath)}, ...]`. */
export function q (s: string): string {
  return JSON.stringify(s)
}

/** `node` running a fixture, as a YAML flow sequence for `command:`. */
export function node (name: string, ...args: string[]): string {
  return `[${[process.execPath, fixture(name), ...args].map(q).join(', ')}]`
}

/**
 * The number of `session start` records once there are at least `count` (a program started by a
 * spawner is logged when the spawner answers, after the client's open): fails after the deadline.
 */
export async function startedSessions (s: TestServer, count: number): Promise<number> {
  return await records(s, 'session start', count)
}

/**
 * The number of `session end` records once there are at least `count`: every admitted upgrade
 * became a session (one whose client left before its spawner was asked gets no program).
 */
export async function endedSessions (s: TestServer, count: number): Promise<number> {
  return await records(s, 'session end', count)
}

async function records (s: TestServer, msg: string, count: number): Promise<number> {
  const found = (): number => s.logs.filter((r) => r.msg === msg).length
  await until(() => found() >= count, `${count} records '${msg}'`)
  return found()
}
