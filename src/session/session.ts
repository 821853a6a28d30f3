import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Readable, Writable } from 'node:stream'
import { execa } from 'execa'
import type { FastifyBaseLogger } from 'fastify'
import WebSocket from 'ws'
import { CloseCode, closeForExit, closeForProtocolError, closeForSpawnError, type Close } from '../close-codes.js'
import type { Route } from '../config/load.js'
import type { SessionControls, SessionFraming } from './controls.js'
import { descriptorShortage } from './descriptors.js'
import type { Encoded, StreamName } from './framing.js'
import { Input } from './input.js'
import { LineSplitter } from './line-splitter.js'
import { sharedLines } from './lines.js'
import type { OutputBuffer } from './output-buffer.js'
import { ProcessGroup } from './process-group.js'
import { TerminalGroup, TerminalProcess } from './pty.js'
import { receiveFast } from './receive.js'
import { stderrUse, type SessionStreams } from './streams.js'
import { sessionFraming } from './terminal-framing.js'

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
  /** The streams settled before the upgrade: subprotocol, query flags, terminal size. */
  readonly streams: SessionStreams
  /** The path the client asked for (`/count/5`), logged beside the route's pattern. */
  readonly requestPath: string
  /** The server's reusable buffer for output frames; without it every chunk's frames get a fresh buffer. */
  readonly output?: OutputBuffer
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
 * One WebSocket connection bridged to one process: output becomes frames (see {@link SessionFraming}),
 * messages become input, with backpressure both ways. When the program ends, its output is
 * delivered and the close code carries its exit status; when the client leaves, stdin is closed,
 * and the process group gets SIGTERM after `closeGrace` and SIGKILL after `killGrace`. A program
 * that cannot start (any error, thrown or emitted) closes with 1011 `spawn failed: CODE`. Output
 * pipes still held open by another process once the program has exited are destroyed after
 * `closeGrace + killGrace`, and every pipe is destroyed when the session ends.
 * Emits `output-paused`/`output-resumed` and `input-paused`/`input-resumed` when backpressure
 * stops and restarts a direction.
 */
export class Session extends EventEmitter {
  readonly id: string
  readonly route: Route
  readonly #o: SessionOptions
  readonly #framing: SessionFraming
  readonly #input: Input
  readonly #started = performance.now()
  readonly #in: Traffic = { messages: 0, bytes: 0 }
  readonly #out: Traffic = { messages: 0, bytes: 0 }
  #child: ReturnType<typeof spawnProgram> | TerminalProcess | undefined
  #group: ProcessGroup | undefined
  #outputs: Readable[] = []
  #openOutputs = 0
  #exit: { code: number | null, signal: string | null } | undefined
  #spawnError: string | null = null
  #clientGone = false
  #closeSent: Close | undefined
  #closeCode: number = CloseCode.NORMAL
  #graceTimer: NodeJS.Timeout | undefined
  /** After the exit: destroys output pipes that something else still holds open. */
  #orphanTimer: NodeJS.Timeout | undefined
  /** After a server shutdown: drops a client that has not completed the close handshake. */
  #disconnectTimer: NodeJS.Timeout | undefined
  #finished = false
  /** `performance.now()` of the last message either way, for idle timeouts. */
  lastActivity = performance.now()
  /** `performance.now()` of the last client message, which proves the peer alive as a pong does. */
  lastInput = 0
  /** `performance.now()` when reading the client last resumed after input backpressure (0: never). */
  inputResumedAt = 0
  readonly #done: Promise<SessionSummary>
  #resolveDone!: (summary: SessionSummary) => void
  readonly #settled: Promise<void>
  #resolveSettled!: () => void

  constructor (options: SessionOptions) {
    super()
    this.id = options.id
    this.route = options.route
    this.#o = options
    this.#framing = sessionFraming(options.route, options.streams, this.#controls(), options.output?.take)
    this.#input = new Input(this.#framing, options.ws, () => this.emit('input-paused'), () => {
      this.inputResumedAt = performance.now()
      this.emit('input-resumed')
    })
    this.#done = new Promise((resolve) => { this.#resolveDone = resolve })
    this.#settled = new Promise((resolve) => { this.#resolveSettled = resolve })
  }

  /** Settles once the program has ended and the connection is closed. */
  get done (): Promise<SessionSummary> {
    return this.#done
  }

  /**
   * True while the client's socket is not read because the program does not read its stdin: what
   * the client sent since, pongs included, waits unread.
   */
  get inputPaused (): boolean {
    return this.#input.paused
  }

  /**
   * Settles when there is nothing left for a drain to wait for: the session is done, or its
   * program never started (its 1011 close may still wait for the client's answer).
   */
  get settled (): Promise<void> {
    return this.#settled
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

  /** Starts the program and bridges it to the connection; a failure to start ends the session with 1011. */
  start (): void {
    const { route, ws } = this.#o
    receiveFast(ws)
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary))
    ws.once('close', (code: number) => this.#onClientClose(code))
    ws.on('error', (err: NodeJS.ErrnoException) => this.#onProtocolError(err))
    let child: ReturnType<typeof spawnProgram> | TerminalProcess
    try {
      child = route.tty ? spawnTerminal(this.#o) : spawnProgram(this.#o)
    } catch (err) {
      // Out of descriptors (EMFILE, ENFILE) or invalid arguments (execa's TypeError for a NUL byte).
      const { code, message } = err as NodeJS.ErrnoException
      this.#spawnFailed(code ?? 'ERR_INVALID_ARG_VALUE', message)
      return
    }
    this.#child = child
    if (child.pid === undefined) {
      // ENOENT, EACCES, EAGAIN, E2BIG…: execa's result names the error (an 'error' event comes for
      // some only). A terminal program always has a pid: forkpty throws or runs the program.
      ;(child as ReturnType<typeof spawnProgram>).then((result) => this.#spawnFailed(String(result.code), String(result.shortMessage)))
      return
    }
    child.once('exit', (code, signal) => this.#onExit(code, signal))
    this.#group = route.tty ? new TerminalGroup(child.pid, route.killGraceMs) : new ProcessGroup(child.pid, route.killGraceMs)
    this.#o.log.info({ ...this.#logFields(), childPid: child.pid, remote: this.#o.remoteAddress }, 'session start')
    this.#input.attach(child.stdin as Writable)
    // A channel session without stdin=true: the program reads end of input at once (a terminal stays open).
    if (!this.#o.streams.stdin && !route.tty) this.#input.end()
    this.#watch(child.stdout as Readable, 'stdout')
    const stderr = stderrUse(route, this.#o.streams)
    if (stderr === 'frames') this.#watch(child.stderr as Readable, 'stderr')
    else if (stderr === 'log') this.#logStderr(child.stderr as Readable)
  }

  /**
   * Ends the session from the server's side: close code 1001 and the process group terminated.
   * A client that has not completed the close handshake after the route's `killGrace` is dropped.
   */
  shutdown (reason = 'server shutting down'): void {
    this.end({ code: CloseCode.GOING_AWAY, reason })
    if (this.#disconnectTimer === undefined && !this.#finished) {
      this.#disconnectTimer = setTimeout(() => this.#o.ws.terminate(), this.route.killGraceMs)
    }
  }

  /** Ends the session from the server's side with `close`: stdin closed, the process group terminated. */
  end (close: Close): void {
    this.#sendClose(close)
    this.#stopInput()
    this.#group?.terminate()
  }

  /** Ends the session at once: close code 1001, SIGKILL to the process group, the connection dropped. */
  kill (reason = 'server shutting down'): void {
    this.#sendClose({ code: CloseCode.GOING_AWAY, reason })
    this.#stopInput()
    this.#group?.kill()
    this.#o.ws.terminate()
  }

  #watch (stream: Readable, name: StreamName): void {
    this.#outputs.push(stream)
    this.#openOutputs++
    let open = true
    // 'end' at EOF; only 'close' when the pipe is destroyed (an orphan held it open) or fails.
    const finish = (): void => {
      if (!open) return
      open = false
      this.#send(this.#framing.flush(name))
      this.#openOutputs--
      if (this.#openOutputs === 0) clearTimeout(this.#orphanTimer)
      this.#maybeClose()
    }
    stream.on('data', (chunk: Buffer) => this.#send(this.#framing.encode(chunk, name)))
    stream.once('end', finish)
    stream.once('close', finish)
    stream.on('error', ignoreStreamError)
  }

  #send (encoded: Encoded | null): void {
    if (encoded === null) return
    const { socket, output } = this.#o
    if (this.#clientGone || this.#closeSent !== undefined) {
      output?.release(encoded.bytes, null)
      return
    }
    this.#out.messages += encoded.messages
    this.#out.bytes += encoded.payloadBytes
    this.lastActivity = performance.now()
    socket.write(encoded.bytes)
    output?.release(encoded.bytes, socket)
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
    stream.on('error', ignoreStreamError)
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

  /** The program never started: 1011 with the error's code, and nothing left to wait for. */
  #spawnFailed (code: string, message: string): void {
    this.#spawnError = code
    this.#o.log.warn({ ...this.#logFields(), err: { code, message }, remote: this.#o.remoteAddress }, 'spawn failed')
    this.#exit = { code: null, signal: null }
    this.#destroyPipes()
    this.#closeWith(closeForSpawnError(this.#spawnError))
    this.#resolveSettled()
    this.#maybeFinish()
  }

  #onExit (code: number | null, signal: NodeJS.Signals | null): void {
    this.#exit = { code, signal }
    clearTimeout(this.#graceTimer)
    // Background children of the program end with it.
    this.#group?.terminate()
    // A process outside the group (setsid) may hold the output open: it gets as long as a client
    // that left gives the program, then the pipes are destroyed and the session ends.
    if (this.#openOutputs > 0) {
      this.#orphanTimer = setTimeout(() => this.#destroyPipes(), this.route.closeGraceMs + this.route.killGraceMs)
    }
    this.#maybeClose()
    this.#maybeFinish()
  }

  /** Destroys the program's pipes (those already closed stay so): no descriptor outlives the session. */
  #destroyPipes (): void {
    const child = this.#child
    child?.stdin?.destroy()
    child?.stdout?.destroy()
    child?.stderr?.destroy()
  }

  /** Sends the exit status once the program has exited and all its output is framed. */
  #maybeClose (): void {
    if (this.#exit === undefined || this.#openOutputs > 0) return
    this.#closeWith(closeForExit(this.#exit.code, this.#exit.signal))
  }

  /** Closes for the program's end: a channel session sends its status first and closes with 1000. */
  #closeWith (close: Close): void {
    const exit = this.#exit as { code: number | null, signal: string | null }
    const final = this.#framing.final?.({ exitCode: exit.code, signal: exit.signal, spawnError: this.#spawnError }, close)
    if (final === undefined) return this.#sendClose(close)
    this.#send(final.encoded)
    this.#sendClose(final.close)
  }

  /** What client messages can do besides input, for the framing. */
  #controls (): SessionControls {
    return {
      endInput: () => this.#input.end(),
      resize: (cols, rows) => (this.#child as TerminalProcess).resize(cols, rows),
      refuse: (reason) => this.end({ code: CloseCode.PROTOCOL_ERROR, reason }),
      ignore: (level, reason) => this.#o.log[level]({ ...this.#logFields(), reason }, 'message ignored')
    }
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
    return { session: this.id, route: this.route.path, path: this.#o.requestPath }
  }

  #maybeFinish (): void {
    if (this.#finished || this.#exit === undefined || this.#o.ws.readyState !== WebSocket.CLOSED) return
    this.#finished = true
    clearTimeout(this.#orphanTimer)
    clearTimeout(this.#disconnectTimer)
    this.#destroyPipes()
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
    this.#resolveSettled()
    this.#resolveDone(summary)
  }
}

/* c8 ignore next 3 -- reading a pipe does not fail on Linux; the listener keeps a failure from being an uncaught 'error' ('close' follows) */
function ignoreStreamError (): void {
  // nothing to do: 'close' ends the stream
}

/**
 * Starts the program with execa, without a shell, as the leader of a new process group, with
 * exactly `env`. A child without a pid failed to start: its result says why (`reject: false`).
 * @throws when the server is out of descriptors (EMFILE, ENFILE: see {@link descriptorShortage}),
 * on invalid arguments (a NUL byte: ERR_INVALID_ARG_VALUE) and on errors such as E2BIG.
 */
function spawnProgram (o: SessionOptions) {
  const shortage = descriptorShortage()
  if (shortage !== undefined) throw shortage
  const child = execa(o.file, o.args, {
    argv0: o.route.command[0] as string,
    ...(o.route.cwd === undefined ? {} : { cwd: o.route.cwd }),
    env: o.env,
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: stderrUse(o.route, o.streams) === 'none' ? 'ignore' : 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    stripFinalNewline: false
  })
  return child
}

/** Starts the program on a pseudo-terminal of the session's size (see {@link TerminalProcess}: node-pty, not execa). */
function spawnTerminal (o: SessionOptions): TerminalProcess {
  return new TerminalProcess({ file: o.file, args: o.args, env: o.env, cwd: o.route.cwd, cols: o.streams.size.cols, rows: o.streams.size.rows })
}
