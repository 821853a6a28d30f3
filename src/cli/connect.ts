import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { parseArgs as parseNodeArgs } from 'node:util'
import WebSocket from 'ws'
import { UsageError } from './args.js'

/** The help text of `wsexec connect --help`. */
export const CONNECT_USAGE = `Usage: wsexec connect [options] URL

Connects this terminal to a wsexec route: each line of stdin is a message, end of input
is sent as an empty binary message, messages are printed on stdout (stderr on stderr with
stderr: tagged or a channel protocol), and the exit status is the remote program's.

Options:
  -H, --header 'N: V'  add a request header (repeatable), e.g. -H 'Authorization: Bearer …'
      --binary         send stdin as raw binary chunks instead of lines
      --channels       speak the Kubernetes channel subprotocols (v5.channel.k8s.io, v4, v1)
      --tty            raw terminal: keystrokes go as they are typed, and resizes are sent
  -h, --help           show this help

Exit status: the program's (0, N, 128+signal); 127 when it could not be started;
255 when the connection failed or ended without the program's status.
`

/** Exit status of `wsexec connect` when the connection failed or closed without the program's status. */
export const CONNECTION_FAILED = 255
/** Exit status when the program could not be started (close code 1011), as a shell's "command not found". */
export const NOT_STARTED = 127

/** The Kubernetes channel subprotocols, most capable first. */
export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'] as const

/** Channel numbers of the Kubernetes exec protocol. */
export const Channel = Object.freeze({ STDIN: 0, STDOUT: 1, STDERR: 2, STATUS: 3, RESIZE: 4, CLOSE: 255 })

interface ConnectOptions {
  url: string
  headers: Record<string, string>
  binary: boolean
  channels: boolean
  tty: boolean
}

/** What `wsexec connect` uses of the process; the CLI passes the real ones. */
export interface ConnectIO {
  readonly stdout: Writable & { isTTY?: boolean, columns?: number, rows?: number }
  readonly stderr: Writable
  /** What is sent; without it, end of input is sent at once. */
  readonly stdin?: Readable & { isTTY?: boolean, setRawMode?: (raw: boolean) => unknown }
}

function parse (argv: readonly string[]): ConnectOptions | undefined {
  let parsed
  try {
    parsed = parseNodeArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        header: { type: 'string', short: 'H', multiple: true },
        binary: { type: 'boolean' },
        channels: { type: 'boolean' },
        tty: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new UsageError(`connect: ${(err as Error).message}`)
  }
  const v = parsed.values
  if (v.help === true) return undefined
  const [url, ...rest] = parsed.positionals
  if (url === undefined) throw new UsageError('connect: a URL is expected (ws://host:port/path)')
  if (rest.length > 0) throw new UsageError(`connect: one URL only, not also ${JSON.stringify(rest[0])}`)
  if (!/^wss?:\/\//.test(url) || !URL.canParse(url)) throw new UsageError(`connect: the URL starts with ws:// or wss://, not ${JSON.stringify(url)}`)
  const headers: Record<string, string> = {}
  for (const h of v.header ?? []) {
    const colon = h.indexOf(':')
    if (colon < 1) throw new UsageError(`connect: -H takes 'Name: value', not ${JSON.stringify(h)}`)
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim()
  }
  return { url, headers, binary: v.binary === true, channels: v.channels === true, tty: v.tty === true }
}

/**
 * The exit status a close means: 1000 → 0, 4000 + N → N (exit N, or 128 + signal), 1011 → 127;
 * anything else is a connection failure (255).
 */
export function exitStatusForClose (code: number): number {
  if (code === 1000) return 0
  if (code > 4000 && code <= 4255) return code - 4000
  if (code === 1011) return NOT_STARTED
  return CONNECTION_FAILED
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

function resizeMessage (channels: boolean, cols: number, rows: number): Buffer | string {
  if (channels) return Buffer.concat([Buffer.of(Channel.RESIZE), Buffer.from(JSON.stringify({ Width: cols, Height: rows }))])
  return JSON.stringify({ resize: { cols, rows } })
}

/**
 * The URL asked for: with channels, the streams wanted as kubectl asks for them (`stdin`, `stdout`,
 * `stderr`, and `tty` with `--tty`), unless the URL says otherwise; with `--tty`, the terminal's size.
 */
function requestUrl (options: ConnectOptions, cols: number | undefined, rows: number | undefined): string {
  const url = new URL(options.url)
  const want: Array<[string, string]> = []
  if (options.channels) want.push(['stdin', 'true'], ['stdout', 'true'], ['stderr', 'true'])
  if (options.channels && options.tty) want.push(['tty', 'true'])
  if (options.tty && cols !== undefined && rows !== undefined) want.push(['cols', String(cols)], ['rows', String(rows)])
  for (const [name, value] of want) if (!url.searchParams.has(name)) url.searchParams.set(name, value)
  return url.href
}

/**
 * `wsexec connect URL`: a command-line client for a route. Resolves to the exit status: the
 * remote program's, 127 when it could not start, 255 when the connection failed.
 */
export async function connectMain (argv: readonly string[], io: ConnectIO): Promise<number> {
  const options = parse(argv)
  if (options === undefined) {
    io.stdout.write(CONNECT_USAGE)
    return 0
  }
  const stdin = io.stdin
  const cols = io.stdout.columns
  const rows = io.stdout.rows
  const url = requestUrl(options, cols, rows)
  const ws = new WebSocket(url, options.channels ? [...CHANNEL_PROTOCOLS] : [], { headers: options.headers, perMessageDeflate: false })
  let statusFromChannel: number | undefined
  let failure: string | undefined
  const say = (text: string): void => { io.stderr.write(`wsexec connect: ${text}\n`) }

  ws.on('unexpected-response', (_request, response) => {
    const body: Buffer[] = []
    response.on('data', (d: Buffer) => body.push(d))
    response.on('end', () => {
      let message = Buffer.concat(body).toString()
      try { message = (JSON.parse(message) as { message: string }).message } catch {}
      failure = `${response.statusCode as number} ${message}`.trim()
      ws.terminate()
    })
  })
  ws.on('error', (err) => { failure ??= err.message })
  // Not events.once: it would reject on the 'error' that comes before every failed connection's close.
  const closed = new Promise<[number, Buffer]>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve([code, reason])))

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (CHANNEL_PROTOCOLS.includes(ws.protocol as typeof CHANNEL_PROTOCOLS[number])) {
      const channel = data[0]
      const payload = data.subarray(1)
      if (channel === Channel.STDOUT) io.stdout.write(payload)
      else if (channel === Channel.STDERR) io.stderr.write(payload)
      else if (channel === Channel.STATUS) {
        const status = exitStatusForStatus(payload.toString())
        if (status !== undefined) statusFromChannel = status
        else if (payload.length > 0) { statusFromChannel = 1; say(payload.toString()) }
      }
      return
    }
    if (isBinary || options.tty) {
      io.stdout.write(data)
      return
    }
    const text = data.toString()
    if (text.startsWith('{"stream":"')) {
      // stderr: tagged routes: {"stream":"stdout"|"stderr","data":"…"}
      try {
        const tagged = JSON.parse(text) as { stream: string, data: string }
        const target = tagged.stream === 'stderr' ? io.stderr : io.stdout
        target.write(`${tagged.data}\n`)
        return
      } catch {}
    }
    io.stdout.write(`${text}\n`)
  })

  await Promise.race([new Promise((resolve) => ws.once('open', resolve)), closed])
  const channel = CHANNEL_PROTOCOLS.includes(ws.protocol as typeof CHANNEL_PROTOCOLS[number])
  // Sends only ever follow 'open'; after a close, ws drops them without throwing.
  const send = (payload: Buffer | string): void => {
    if (channel) ws.send(Buffer.concat([Buffer.of(Channel.STDIN), Buffer.from(payload)]))
    else ws.send(payload, { binary: typeof payload !== 'string' })
  }
  const endInput = (): void => {
    if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.of(Channel.CLOSE, Channel.STDIN))
    else if (!channel) ws.send(Buffer.alloc(0), { binary: true })
  }
  const cleanups: Array<() => void> = []
  if (ws.readyState === WebSocket.OPEN && stdin === undefined) {
    endInput()
  } else if (ws.readyState === WebSocket.OPEN && stdin !== undefined) {
    if (options.tty) {
      const raw = stdin.isTTY === true && stdin.setRawMode !== undefined
      if (raw) {
        stdin.setRawMode?.(true)
        cleanups.push(() => stdin.setRawMode?.(false))
      }
      const sendSize = (): void => {
        const c = io.stdout.columns
        const r = io.stdout.rows
        if (c !== undefined && r !== undefined) ws.send(resizeMessage(channel, c, r))
      }
      sendSize()
      io.stdout.on('resize', sendSize)
      cleanups.push(() => io.stdout.off('resize', sendSize))
      const onData = (chunk: Buffer): void => send(chunk)
      stdin.on('data', onData)
      stdin.once('end', endInput)
      cleanups.push(() => { stdin.off('data', onData); stdin.off('end', endInput); stdin.destroy() })
    } else if (options.binary || channel) {
      const onData = (chunk: Buffer): void => send(chunk)
      stdin.on('data', onData)
      stdin.once('end', endInput)
      cleanups.push(() => { stdin.off('data', onData); stdin.off('end', endInput); stdin.destroy() })
    } else {
      const lines = createInterface({ input: stdin, crlfDelay: Infinity })
      lines.on('line', (line) => send(line))
      lines.once('close', endInput)
      cleanups.push(() => { lines.off('close', endInput); lines.close(); stdin.destroy() })
    }
  }
  const [code, reasonBuffer] = await closed
  for (const cleanup of cleanups) cleanup()
  const reason = reasonBuffer.toString()
  if (failure !== undefined) {
    say(`cannot connect to ${options.url}: ${failure}`)
    return CONNECTION_FAILED
  }
  if (channel) {
    if (statusFromChannel !== undefined) return statusFromChannel
    const m = /^exit ([0-9]+)$/.exec(reason)
    if (m !== null) return Number(m[1])
  }
  const status = exitStatusForClose(code)
  if (status === NOT_STARTED) say(`the program did not start: ${reason}`)
  else if (status === CONNECTION_FAILED) say(`connection closed: ${code}${reason === '' ? '' : ` ${reason}`}`)
  return status
}
