import type { Readable, Writable } from 'node:stream'
import { parseArgs as parseNodeArgs } from 'node:util'
import WebSocket from 'ws'
import { UsageError } from './args.js'
import { pumpInput, type InputMode, type InputSink } from './connect-input.js'
import { Channel, openLink, type Link } from './connect-link.js'
import { escapeControls } from './escape.js'
import { ExitCode } from './io.js'

export { Channel, CHANNEL_PROTOCOLS, exitStatusForStatus, MAX_ERROR_BODY_BYTES } from './connect-link.js'

/** The help text of `wsexec connect --help`. */
export const CONNECT_USAGE = `Usage: wsexec connect [options] URL

Connects this terminal to a wsexec route: each line of stdin is a message, end of input
is sent as an empty binary message, messages are printed on stdout (stderr on stderr with
stderr: tagged or a channel protocol), and the exit status is the remote program's.
Ctrl-C closes the session (close code 1000): the server ends the program.

On a terminal route (tty: true, or --tty), stdin goes as the bytes read, each newline
typed as Enter (\\r), and its end as Ctrl-D: printf 'echo hi\\nexit 2\\n' | wsexec connect
ws://host/bash runs both commands. Raw mode needs --tty and stdin a terminal: with a pipe
it stays off, as with ssh and kubectl.

Options:
  -H, --header 'N: V'  add a request header (repeatable), e.g. -H 'Authorization: Bearer …'
      --binary         send stdin as raw binary chunks instead of lines
      --channels       speak the Kubernetes channel subprotocols (v5.channel.k8s.io, v4, v1)
      --tty            raw terminal: keystrokes go as they are typed (Ctrl-C too), and the
                       window's size is sent, at the start and on each resize
  -h, --help           show this help

Server text printed by wsexec connect itself (close reasons, HTTP errors, statuses, tagged
stderr) has its control characters escaped (\\x1b); the program's stdout is printed raw.

Exit status: the program's (0, N, 128+signal); 127 when it could not be started;
130 after Ctrl-C; 255 when the connection failed or ended without the program's status;
2 for a usage error.
`

/** Exit status of `wsexec connect` when the connection failed or closed without the program's status. */
export const CONNECTION_FAILED = 255
/** Exit status when the program could not be started (close code 1011), as a shell's "command not found". */
export const NOT_STARTED = 127

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
  /** Where SIGINT comes from (the process): the first closes the session (1000), a second drops it. */
  readonly signals?: NodeJS.EventEmitter
}

/** Exit status after Ctrl-C (SIGINT) ended the session, as a shell reports a program it interrupted. */
export const INTERRUPTED = 130

const HELP_HINT = 'Try \'wsexec connect --help\' for more information.\n'

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
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  if (v.help === true) return undefined
  const [url, ...rest] = parsed.positionals
  if (url === undefined) throw new UsageError('a URL is expected (ws://host:port/path)')
  if (rest.length > 0) throw new UsageError(`one URL only, not also ${JSON.stringify(rest[0])}`)
  if (!/^wss?:\/\//.test(url) || !URL.canParse(url)) throw new UsageError(`the URL starts with ws:// or wss://, not ${JSON.stringify(url)}`)
  const headers: Record<string, string> = {}
  for (const h of v.header ?? []) {
    const colon = h.indexOf(':')
    if (colon < 1) throw new UsageError(`-H takes 'Name: value', not ${JSON.stringify(h)}`)
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
 * The first SIGINT closes the session with 1000 (the server ends the program as for any client
 * that leaves), a second drops the connection at once. Returns whether one came, and the unhook.
 */
function onInterrupt (signals: NodeJS.EventEmitter | undefined, ws: WebSocket): { interrupted: () => boolean, stop: () => void } {
  let count = 0
  const interrupt = (): void => {
    count++
    // Before the open there is no session to close: ws aborts the handshake either way.
    if (count === 1 && ws.readyState === WebSocket.OPEN) ws.close(1000)
    else ws.terminate()
  }
  signals?.on('SIGINT', interrupt)
  return { interrupted: () => count > 0, stop: () => { signals?.off('SIGINT', interrupt) } }
}

/** What goes to `link`: stdin on channel 0 on channel sessions; the end as the protocol says. */
function sinkFor (link: Link): InputSink {
  const ws = link.ws
  const channel = link.channel()
  // Sends only ever follow 'open'; after a close, ws drops them without throwing.
  return {
    send (payload) {
      if (channel !== null) ws.send(Buffer.concat([Buffer.of(Channel.STDIN), Buffer.from(payload)]))
      else ws.send(payload, { binary: typeof payload !== 'string' })
    },
    end () {
      // On a terminal the server types Ctrl-D for either.
      if (channel === 'v5.channel.k8s.io') ws.send(Buffer.of(Channel.CLOSE, Channel.STDIN))
      else if (channel === null) ws.send(Buffer.alloc(0), { binary: true })
    }
  }
}

/**
 * Starts sending stdin to `link` (the end of input at once without one) and, on a terminal, its
 * size; raw mode only with `--tty` on a terminal stdin. Returns what undoes it.
 */
function startInput (options: ConnectOptions, io: ConnectIO, link: Link, say: (text: string) => void): () => void {
  const stdin = io.stdin
  const sink = sinkFor(link)
  if (stdin === undefined) {
    sink.end()
    return () => {}
  }
  const terminal = link.terminal()
  const raw = options.tty && stdin.isTTY === true && stdin.setRawMode !== undefined
  const cleanups: Array<() => void> = []
  if (raw) {
    stdin.setRawMode?.(true)
    cleanups.push(() => stdin.setRawMode?.(false))
  }
  if (options.tty) {
    const sendSize = (): void => {
      const c = io.stdout.columns
      const r = io.stdout.rows
      if (c !== undefined && r !== undefined) link.ws.send(resizeMessage(link.channel() !== null, c, r))
    }
    sendSize()
    io.stdout.on('resize', sendSize)
    cleanups.push(() => io.stdout.off('resize', sendSize))
  } else if (terminal && stdin.isTTY === true) {
    say(`${options.url} is a terminal: lines are typed with Enter; give --tty for raw keystrokes and the window's size`)
  }
  // A terminal not in raw mode (a pipe, or this terminal line by line) types each newline as Enter.
  const mode: InputMode = terminal ? (raw ? 'chunks' : 'keys') : options.binary || link.channel() !== null ? 'chunks' : 'lines'
  cleanups.push(pumpInput(stdin, mode, sink))
  return () => { for (const cleanup of cleanups) cleanup() }
}

/**
 * `wsexec connect URL`: a command-line client for a route. Resolves to the exit status: the
 * remote program's, 127 when it could not start, 130 after Ctrl-C, 255 when the connection
 * failed, 2 for a usage error.
 */
export async function connectMain (argv: readonly string[], io: ConnectIO): Promise<number> {
  let options
  try {
    options = parse(argv)
  } catch (err) {
    // parse throws usage errors only.
    io.stderr.write(`wsexec connect: ${escapeControls((err as UsageError).message)}\n${HELP_HINT}`)
    return ExitCode.USAGE
  }
  if (options === undefined) {
    io.stdout.write(CONNECT_USAGE)
    return 0
  }
  // Every line wsexec prints itself may hold a server's text: its controls are escaped.
  const say = (text: string): void => { io.stderr.write(`wsexec connect: ${escapeControls(text)}\n`) }
  const link = openLink(requestUrl(options, io.stdout.columns, io.stdout.rows), options, { stdout: io.stdout, stderr: io.stderr, say })
  const interrupt = onInterrupt(io.signals, link.ws)
  await link.opened
  const stopInput = link.ws.readyState === WebSocket.OPEN ? startInput(options, io, link, say) : () => {}
  // A reconnect (a resumable session) plugs in here: on a close that can be resumed, open a new
  // link and point the input's sink at it; the status below is read from the last link.
  const [code, reason] = await link.closed
  stopInput()
  interrupt.stop()
  return outcome(options, link, code, reason, interrupt.interrupted(), say)
}

/** The exit status of a connection that ended with `code` and `reason`, and what to say about it. */
function outcome (options: ConnectOptions, link: Link, code: number, reason: string, interrupted: boolean, say: (text: string) => void): number {
  if (interrupted) return INTERRUPTED
  const failure = link.failure()
  if (failure !== undefined) {
    say(`cannot connect to ${options.url}: ${failure}`)
    return CONNECTION_FAILED
  }
  if (link.channel() !== null) {
    const fromChannel = link.statusFromChannel()
    if (fromChannel !== undefined) return fromChannel
    const m = /^exit ([0-9]+)$/.exec(reason)
    if (m !== null) return Number(m[1])
  }
  const status = exitStatusForClose(code)
  if (status === NOT_STARTED) say(`the program did not start: ${reason}`)
  else if (status === CONNECTION_FAILED) say(`connection closed: ${code}${reason === '' ? '' : ` ${reason}`}`)
  return status
}
