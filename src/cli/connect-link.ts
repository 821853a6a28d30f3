import type { IncomingMessage } from 'node:http'
import type { Writable } from 'node:stream'
import WebSocket from 'ws'
import { escapeControls } from './escape.js'

/** The Kubernetes channel subprotocols, most capable first. */
export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'] as const

/** Channel numbers of the Kubernetes exec protocol. */
export const Channel = Object.freeze({ STDIN: 0, STDOUT: 1, STDERR: 2, STATUS: 3, RESIZE: 4, CLOSE: 255 })

/** Bytes of an HTTP error body kept; the rest is never read (the response is destroyed). */
export const MAX_ERROR_BODY_BYTES = 4096

/** The header a wsexec `tty` route's 101 answer carries (`true`): input is typed on a terminal. */
export const TERMINAL_HEADER = 'wsexec-tty'

/** What one connection needs to know. */
export interface LinkOptions {
  readonly url: string
  readonly headers: Record<string, string>
  readonly channels: boolean
  /** `--tty`: the user says the route is a terminal (its output is raw bytes). */
  readonly tty: boolean
}

/** Where a connection's output and `wsexec connect`'s own lines go. */
export interface LinkIO {
  readonly stdout: Writable
  readonly stderr: Writable
  /** Prints one line of wsexec's own, its server-provided text escaped. */
  readonly say: (text: string) => void
}

/** One WebSocket connection to a route, with what was learned of it. */
export interface Link {
  readonly ws: WebSocket
  /** Settles once open, or closed before that. */
  readonly opened: Promise<void>
  /** The close code and reason. */
  readonly closed: Promise<[number, string]>
  /** Why the connection failed before it opened (HTTP status and message, or a socket error). */
  readonly failure: () => string | undefined
  /** True once open on a terminal: `--tty`, or the route's 101 answer said so. */
  readonly terminal: () => boolean
  /** The channel subprotocol, or null once open on the plain protocol. */
  readonly channel: () => typeof CHANNEL_PROTOCOLS[number] | null
  /** The exit status from a channel-3 Status, if one came. */
  readonly statusFromChannel: () => number | undefined
}

/** The exit status in a Kubernetes `Status` (channel 3), or undefined when it names none. */
export function exitStatusForStatus (text: string): number | undefined {
  let status: { status?: unknown, details?: { causes?: Array<{ reason?: unknown, message?: unknown }> } }
  try {
    status = JSON.parse(text) as typeof status
  } catch {
    return undefined
  }
  if (status.status === 'Success') return 0
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode')
  const n = Number(cause?.message)
  return Number.isInteger(n) && n >= 0 ? n : undefined
}

/** The first line of an error body: its JSON `message` (fastify's errors), or the text itself. */
export function errorBodyLine (body: string): string {
  let message = body
  try {
    const parsed = JSON.parse(body) as { message?: unknown } | null
    if (typeof parsed?.message === 'string') message = parsed.message
  } catch {}
  return message.split(/\r?\n/, 1)[0] as string
}

/**
 * Reads at most {@link MAX_ERROR_BODY_BYTES} of a refusal's body, then destroys the response
 * (a hostile server's endless body is never read to its end); `done` gets status and first line.
 */
function readRefusal (response: IncomingMessage, done: (failure: string) => void): void {
  const chunks: Buffer[] = []
  let bytes = 0
  let finished = false
  const finish = (): void => {
    if (finished) return
    finished = true
    response.destroy()
    const body = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString()
    done(`${response.statusCode as number} ${errorBodyLine(body)}`.trim())
  }
  response.on('data', (d: Buffer) => {
    chunks.push(d)
    bytes += d.length
    if (bytes >= MAX_ERROR_BODY_BYTES) finish()
  })
  response.once('end', finish)
  // A body cut short (the server reset the connection): what came is enough.
  response.once('error', finish)
  response.once('close', finish)
}

/**
 * Opens one connection to `url` (the URL with its query already settled) and prints what comes:
 * stdout and stderr messages, channels 1 and 2; remembers channel 3's status.
 */
export function openLink (url: string, options: LinkOptions, io: LinkIO): Link {
  const ws = new WebSocket(url, options.channels ? [...CHANNEL_PROTOCOLS] : [], { headers: options.headers, perMessageDeflate: false })
  let failure: string | undefined
  let terminal = options.tty
  let statusFromChannel: number | undefined
  const channel = (): typeof CHANNEL_PROTOCOLS[number] | null =>
    (CHANNEL_PROTOCOLS as readonly string[]).includes(ws.protocol) ? ws.protocol as typeof CHANNEL_PROTOCOLS[number] : null

  ws.on('upgrade', (response: IncomingMessage) => { if (response.headers[TERMINAL_HEADER] === 'true') terminal = true })
  ws.on('unexpected-response', (_request, response) => {
    readRefusal(response, (text) => {
      failure = text
      ws.terminate()
    })
  })
  ws.on('error', (err) => { failure ??= err.message })
  // Not events.once: it would reject on the 'error' that comes before every failed connection's close.
  const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])))
  const opened = Promise.race([new Promise<void>((resolve) => ws.once('open', resolve)), closed.then(() => {})])

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (channel() !== null) {
      const payload = data.subarray(1)
      if (data[0] === Channel.STDOUT) io.stdout.write(payload)
      else if (data[0] === Channel.STDERR) io.stderr.write(payload)
      else if (data[0] === Channel.STATUS) {
        const status = exitStatusForStatus(payload.toString())
        if (status !== undefined) statusFromChannel = status
        else if (payload.length > 0) { statusFromChannel = 1; io.say(payload.toString()) }
      }
      return
    }
    // Program output on stdout is the program's, raw (as ssh and kubectl print it).
    if (isBinary || terminal) {
      io.stdout.write(data)
      return
    }
    const text = data.toString()
    if (text.startsWith('{"stream":"')) {
      // stderr: tagged routes: {"stream":"stdout"|"stderr","data":"…"}; wsexec decodes the JSON
      // escapes, so the stderr it prints has its controls escaped.
      try {
        const tagged = JSON.parse(text) as { stream: string, data: string }
        if (tagged.stream === 'stderr') io.stderr.write(`${escapeControls(tagged.data)}\n`)
        else io.stdout.write(`${tagged.data}\n`)
        return
      } catch {}
    }
    io.stdout.write(`${text}\n`)
  })

  return {
    ws,
    opened,
    closed,
    failure: () => failure,
    terminal: () => terminal,
    channel,
    statusFromChannel: () => statusFromChannel
  }
}
