import { createRequire } from 'node:module'
import type { Writable } from 'node:stream'
import { pino, type Level, type Logger } from 'pino'
import { REDACT_PATHS } from './security/secrets.js'

export { LOG_LEVELS } from './cli/args.js'

/** A log level name. */
export type LogLevel = Level | 'silent'

type Record = { [key: string]: unknown }

const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'reqId', 'session', 'route', 'path'])

function plural (n: unknown, one: string): string {
  return `${String(n)} ${one}${n === 1 ? '' : 's'}`
}

/** `text` with every C0 and C1 control (and DEL) written as `\xHH`: a program's stderr cannot move the cursor, set the title or the clipboard (OSC 52). */
export function escapeControls (text: string): string {
  // eslint-disable-next-line no-control-regex -- matching the controls is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * One line per record for people at a terminal: session starts and ends in words
 * (`/count/5 → 1000 exit 0, 5 msgs out, 30 ms`), other records as their message and a few
 * `key=value` fields; controls escaped (see {@link escapeControls}).
 */
export function terminalLine (log: Record): string {
  return escapeControls(describe(log))
}

function describe (log: Record): string {
  const path = String(log['path'] ?? log['route'] ?? '')
  const route = log['route'] !== undefined && log['route'] !== log['path'] ? ` (${String(log['route'])})` : ''
  if (log['msg'] === 'session start') return `${path}${route} ← ${String(log['remote'])}, pid ${String(log['childPid'])}`
  if (log['msg'] === 'session end') {
    const out = log['out'] as Record
    const into = log['in'] as Record
    const ending = log['signal'] !== null ? `signal ${String(log['signal'])}` : log['spawnError'] !== null ? `spawn failed ${String(log['spawnError'])}` : `exit ${String(log['exitCode'])}`
    return `${path}${route} → ${String(log['closeCode'])} ${ending}, ${plural(into['messages'], 'msg')} in, ${plural(out['messages'], 'msg')} out, ${String(log['durationMs'])} ms`
  }
  const fields: string[] = []
  for (const [key, value] of Object.entries(log)) {
    if (HIDDEN.has(key) || value === undefined) continue
    // A route's announcement says its URL already: printed once.
    if (key === 'url' && String(log['msg']).includes(String(value))) continue
    if (key === 'err') fields.push(`err=${JSON.stringify((value as Record)['message'] ?? value)}`)
    else fields.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
  }
  const prefix = log['path'] === undefined ? '' : `${path} `
  return `${prefix}${String(log['msg'])}${fields.length === 0 ? '' : `  ${fields.join(' ')}`}`
}

/**
 * A pino logger writing JSON lines to `destination`, or human-readable lines when `pretty`
 * (a terminal). Secrets are never logged: credentials in headers and the token query parameter are redacted.
 */
export function createLogger (level: LogLevel, destination: Writable, isPretty: boolean): Logger {
  const options = { level, redact: [...REDACT_PATHS] }
  if (!isPretty) return pino(options, destination)
  // Loaded for a terminal only: a service writing JSON lines never pays for pino-pretty and its colours.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty')
  return pino(options, pretty({ destination, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', hideObject: true, messageFormat: (log) => terminalLine(log) }))
}
