import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Readable, Writable } from 'node:stream'
import { execa } from 'execa'
import type { FastifyBaseLogger } from 'fastify'
import WebSocket from 'ws'
import { CloseCode, closeForExit, closeForProtocolError, closeForSpawnError, type Close } from '../close-codes.js'
import type { Route } from '../config/load.js'
import { framingFor, type Encoded, type Framing, type StreamName } from './framing.js'
import { Input } from './input.js'
import { LineSplitter } from './line-splitter.js'
import { sharedLines } from './lines.js'
import { ProcessGroup } from './process-group.js'
import { receiveFast } from './receive.js'

/** Bytes of frames the server lets wait in the socket before it stops reading the program's output. */
export const OUTPUT_HIGH_WATER_BYTES = 256 * 1024

/** What a session needs: the program to start and the connection it serves. */
export interface SessionOptions {
  readonly id: string
  readonly route: Route
  /** Absolute path of the program. */
  readonly file: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly ws: WebSocket
  /** The connection's TCP socket, to which output frames are written directly. */
  readonly socket: Socket
  /** The request's logger; every line also names the session and the route (no child logger per session: memory). */
  readonly log: FastifyBaseLogger
  readonly remoteAddress: string
  /** The path the client asked for (`/count/5`), logged beside the route's pattern. */
  readonly requestPath?: string
}

/** Message and byte counts of one direction. */
export interface Traffic {
  messages: number
  bytes: number
}

/** How a session ended, as logged and returned by {@link Session.done}. */
export interface SessionSummary {
  exitCode: number | null
  signal: string | null
  /** The spawn error code (ENOENT, EACCES…) when the program could not start. */
  spawnError: string | null
  closeCode: number
  closedBy: 'server' | 'client'
  durationMs: number
  in: Traffic
  out: Traffic
}

/**
 * One WebSocket connection bridged to one process: output becomes frames (see {@link Framing}),
 * messages become input, with backpressure both ways. When the program ends, its output is
 * delivered and the close code carries its exit status; when the client leaves, stdin is closed,
 * and the process group gets SIGTERM after `closeGrace` and SIGKILL after `killGrace`.
 * Emits `output-paused`/`output-resumed` and `input-paused` when backpressure stops a direction.
 */
export class Session extends EventEmitter {
  readonly id: string
  readonly route: Route
  readonly #o: SessionOptions
  readonly #framing: Framing
  readonly #input: Input
  readonly #started = performance.now()
  readonly #in: Traffic = { messages: 0, bytes: 0 }
  readonly #out: Traffic = { messages: 0, bytes: 0 }
  #child: ReturnType<typeof spawnProgram> | undefined
  #group: ProcessGroup | undefined
  #outputs: Readable[] = []
  #openOutputs = 0
  #exit: { code: number | null, signal: string | null } | undefined
  #spawnError: string | null = null
  #clientGone = false
  #closeSent: Close | undefined
  #closeCode: number = CloseCode.NORMAL
  #graceTimer: NodeJS.Timeout | undefined
  #finished = false
  /** `performance.now()` of the last message either way, for idle timeouts. */
  lastActivity = performance.now()
  /** `performance.now()` of the last client message, which proves the peer alive as a pong does. */
  lastInput = 0
  readonly #done: Promise<SessionSummary>
  #resolveDone!: (summary: SessionSummary) => void

  constructor (options: SessionOptions) {
    super()
    this.id = options.id
    this.route = options.route
    this.#o = options
    this.#framing = framingFor(options.route)
    this.#input = new Input(this.#framing, options.ws, () => this.emit('input-paused'))
    this.#done = new Promise((resolve) => { this.#resolveDone = resolve })
  }

  /** Settles once the program has ended and the connection is closed. */
  get done (): Promise<SessionSummary> {
    return this.#done
  }

  /** The process id, once started. */
  get pid (): number | undefined {
    return this.#child?.pid
  }

  /** Bytes the server holds for this session: frames not yet sent, and input not yet written. */
  bufferedBytes (): { toClient: number, toProgram: number } {
    return {
      toClient: this.#o.socket.writableLength,
      toProgram: this.#input.buffered + this.#o.socket.readableLength
    }
  }

  /** Starts the program and bridges it to the connection. */
  start (): void {
    const { route, ws } = this.#o
    const child = spawnProgram(this.#o)
    this.#child = child
    // Settles after the streams are done; failures are read from the events below instead.
    child.then(() => {}, () => {})
    child.on('error', (err: NodeJS.ErrnoException) => this.#onError(err))
    child.once('exit', (code, signal) => this.#onExit(code, signal))
    receiveFast(ws)
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary))
    ws.once('close', (code: number) => this.#onClientClose(code))
    ws.on('error', (err: NodeJS.ErrnoException) => this.#onProtocolError(err))
    if (child.pid === undefined) return
    this.#group = new ProcessGroup(child.pid, route.killGraceMs)
    this.#o.log.info({ ...this.#logFields(), childPid: child.pid, remote: this.#o.remoteAddress }, 'session start')
    this.#input.attach(child.stdin as Writable)
    this.#watch(child.stdout as Readable, 'stdout')
    if (route.stderr === 'merge' || route.stderr === 'tagged') this.#watch(child.stderr as Readable, 'stderr')
    else if (route.stderr === 'log') this.#logStderr(child.stderr as Readable)
  }

  /** Ends the session from the server's side: close code 1001 and the process group terminated. */
  shutdown (reason = 'server shutting down'): void {
    this.end({ code: CloseCode.GOING_AWAY, reason })
  }

  /** Ends the session from the server's side with `close`: stdin closed, the process group terminated. */
  end (close: Close): void {
    this.#sendClose(close)
    this.#stopInput()
    this.#group?.terminate()
  }

  /** Ends the session at once: close code 1001 and SIGKILL to the process group. */
  kill (reason = 'server shutting down'): void {
    this.#sendClose({ code: CloseCode.GOING_AWAY, reason })
    this.#stopInput()
    this.#group?.kill()
  }

  #watch (stream: Readable, name: StreamName): void {
    this.#outputs.push(stream)
    this.#openOutputs++
    stream.on('data', (chunk: Buffer) => this.#send(this.#framing.encode(chunk, name)))
    stream.once('end', () => {
      this.#send(this.#framing.flush(name))
      this.#openOutputs--
      this.#maybeClose()
    })
  }

  #send (encoded: Encoded | null): void {
    if (encoded === null || this.#clientGone || this.#closeSent !== undefined) return
    const { socket } = this.#o
    this.#out.messages += encoded.messages
    this.#out.bytes += encoded.payloadBytes
    this.lastActivity = performance.now()
    socket.write(encoded.bytes)
    if (socket.writableLength < OUTPUT_HIGH_WATER_BYTES) return
    for (const s of this.#outputs) s.pause()
    this.emit('output-paused')
    socket.once('drain', () => {
      for (const s of this.#outputs) s.resume()
      this.emit('output-resumed')
    })
  }

  #logStderr (stream: Readable): void {
    const splitter = new LineSplitter(this.route.maxLineBytes)
    const lines = sharedLines
    const flush = (): void => {
      for (let i = 0; i < lines.count; i++) this.#o.log.warn({ ...this.#logFields(), childPid: this.pid, stderr: lines.line(i).toString('utf8') }, 'program stderr')
      lines.release()
    }
    stream.on('data', (chunk: Buffer) => { splitter.push(chunk, lines); flush() })
    stream.once('end', () => { splitter.end(lines); flush() })
  }

  #onMessage (data: Buffer, isBinary: boolean): void {
    this.#in.messages++
    this.#in.bytes += data.length
    this.lastActivity = this.lastInput = performance.now()
    // The server accepts the largest message of any route: this route's own limit is checked here.
    if (data.length > this.route.maxMessageBytes) this.end({ code: CloseCode.MESSAGE_TOO_BIG, reason: 'message too big' })
    this.#input.push(data, isBinary)
  }

  /** ws emits errors only for protocol violations, and has already sent the close frame. */
  #onProtocolError (err: NodeJS.ErrnoException): void {
    this.#sendClose({ code: closeForProtocolError(err.code), reason: err.message })
  }

  #onError (err: NodeJS.ErrnoException): void {
    /* c8 ignore next 4 -- after a successful spawn Node emits 'error' only for kill() and send(), which wsexec never calls */
    if (this.pid !== undefined) {
      this.#o.log.warn({ ...this.#logFields(), err: { code: err.code, message: err.message } }, 'program error')
      return
    }
    this.#spawnError = String(err.code)
    this.#o.log.warn({ ...this.#logFields(), err: { code: err.code, message: err.message }, remote: this.#o.remoteAddress }, 'spawn failed')
    this.#exit = { code: null, signal: null }
    this.#sendClose(closeForSpawnError(this.#spawnError))
    this.#maybeFinish()
  }

  #onExit (code: number | null, signal: NodeJS.Signals | null): void {
    this.#exit = { code, signal }
    clearTimeout(this.#graceTimer)
    // Background children of the program end with it.
    this.#group?.terminate()
    this.#maybeClose()
    this.#maybeFinish()
  }

  /** Sends the exit status once the program has exited and all its output is framed. */
  #maybeClose (): void {
    if (this.#exit === undefined || this.#openOutputs > 0) return
    this.#sendClose(closeForExit(this.#exit.code, this.#exit.signal))
  }

  #sendClose (close: Close): void {
    if (this.#closeSent !== undefined || this.#clientGone) return
    this.#closeSent = close
    this.#closeCode = close.code
    this.#o.ws.close(close.code, close.reason)
  }

  #onClientClose (code: number): void {
    this.#clientGone = true
    if (this.#closeSent === undefined) this.#closeCode = code
    this.#stopInput()
    if (this.#exit === undefined && this.#group !== undefined) {
      const group = this.#group
      this.#graceTimer = setTimeout(() => group.terminate(), this.route.closeGraceMs)
    }
    this.#maybeFinish()
  }

  /** Closes stdin, and keeps reading output (discarding it) so the program is never stuck writing. */
  #stopInput (): void {
    this.#input.close()
    for (const s of this.#outputs) s.resume()
  }

  #logFields (): { session: string, route: string, path: string } {
    return { session: this.id, route: this.route.path, path: this.#o.requestPath ?? this.route.path }
  }

  #maybeFinish (): void {
    if (this.#finished || this.#exit === undefined || this.#o.ws.readyState !== WebSocket.CLOSED) return
    this.#finished = true
    const summary: SessionSummary = {
      exitCode: this.#exit.code,
      signal: this.#exit.signal,
      spawnError: this.#spawnError,
      closeCode: this.#closeCode,
      closedBy: this.#closeSent === undefined ? 'client' : 'server',
      durationMs: Math.round(performance.now() - this.#started),
      in: { ...this.#in },
      out: { ...this.#out }
    }
    this.#o.log.info({ ...this.#logFields(), childPid: this.pid, remote: this.#o.remoteAddress, ...summary }, 'session end')
    this.#resolveDone(summary)
  }
}

/** Starts the program without a shell, as the leader of a new process group, with exactly `env`. */
function spawnProgram (o: SessionOptions) {
  return execa(o.file, o.args, {
    argv0: o.route.command[0] as string,
    ...(o.route.cwd === undefined ? {} : { cwd: o.route.cwd }),
    env: o.env,
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: o.route.stderr === 'discard' ? 'ignore' : 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    stripFinalNewline: false
  })
}
