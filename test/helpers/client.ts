import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import WebSocket from 'ws'

/** How often {@link until} looks again at a condition no event announces (ms). */
const POLL_MS = 10

/** Every wait in the tests ends by this deadline (ms): generous, for a busy machine. */
export const DEADLINE_MS = 30_000

/** A WebSocket client that records messages from the first byte (listeners attached before open). */
export interface Client {
  ws: WebSocket
  messages: Array<string | Buffer>
  opened: Promise<void>
  closed: Promise<{ code: number, reason: string }>
  /** Resolves when `count` messages have arrived. */
  received (count: number): Promise<Array<string | Buffer>>
}

/** Opens a client to `url` (offering `protocols`, if any); text messages are recorded as strings, binary ones as Buffers. */
export function connect (url: string, options: WebSocket.ClientOptions = {}, protocols: string[] = []): Client {
  const ws = new WebSocket(url, protocols, options)
  const messages: Array<string | Buffer> = []
  const waiters: Array<{ count: number, resolve: () => void }> = []
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push(isBinary ? data : data.toString('utf8'))
    for (const w of waiters) if (messages.length >= w.count) w.resolve()
  })
  const signal = AbortSignal.timeout(DEADLINE_MS)
  const closed = once(ws, 'close', { signal }).then((args) => ({ code: args[0] as number, reason: String(args[1]) }))
  const opened = once(ws, 'open', { signal }).then(() => {})
  closed.catch(() => {})
  opened.catch(() => {})
  return {
    ws,
    messages,
    opened,
    closed,
    received (count) {
      if (messages.length >= count) return Promise.resolve(messages)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${messages.length} of ${count} messages arrived`)), DEADLINE_MS)
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(messages) } })
      })
    }
  }
}

/** The HTTP status a refused upgrade got, or 101 when it was accepted. */
export async function upgradeStatus (url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  const ws = new WebSocket(url, options)
  ws.on('error', () => {})
  const status = await Promise.race([
    once(ws, 'open').then(() => 101),
    once(ws, 'unexpected-response').then((args) => (args[1] as { statusCode: number }).statusCode)
  ])
  ws.terminate()
  return status
}

/** The HTTP response to a refused upgrade: status, headers and body. */
export async function refusedUpgrade (url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  const ws = new WebSocket(url, options)
  ws.on('error', () => {})
  const [, res] = await once(ws, 'unexpected-response', { signal: AbortSignal.timeout(DEADLINE_MS) }) as [unknown, import('node:http').IncomingMessage]
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  ws.terminate()
  return { status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks).toString() }
}

/** Resolves when `check()` is true, checking every few ms; fails after the deadline. */
export async function until (check: () => boolean | Promise<boolean>, what: string, deadlineMs = DEADLINE_MS): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await delay(POLL_MS)
  }
}
