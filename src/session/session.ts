import { performance } from 'node:perf_hooks'
import type { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { CloseCode, closeForExit, closeForSpawnError, closeForStartTimeout, closeForSpawnerLost, type Close } from '../close-codes.js'
import type { Route } from '../config/load.js'
import type { ProgramStarter } from '../spawner/pool.js'
import type { Connection, ConnectionListener } from './connection.js'
import type { SessionControls, SessionFraming } from './controls.js'
import { flowChannel, type FlowEvent } from './flow.js'
import { Input } from './input.js'
import { Program, type ProgramListener, type SpawnFailure } from './program.js'
import type { SessionStreams } from './streams.js'
import type { WatchdogLimits } from './watchdog.js'
import type { Encoded } from './wire/framing.js'
import type { Lines } from './wire/lines.js'
import type { OutputBuffer } from './wire/output-buffer.js'
import { sessionFraming } from './wire/terminal-framing.js'

/** What a session needs: the program to start and the connection it serves. */
export interface SessionOptions {
  readonly id: string
  readonly route: Route
  /** Absolute path of the program. */
  readonly file: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  /** The client side: a {@link WsConnection} (or a fake one in tests). */
  readonly connection: Connection
  /** The request's logger; every line also names the session and the route (no child logger per session: memory). */
  readonly log: FastifyBaseLogger
  readonly remoteAddress: string
  /** The streams settled before the upgrade: subprotocol, query flags, terminal size. */
  readonly streams: SessionStreams
  /** The path the client asked for (`/count/5`), logged beside the route's pattern. */
  readonly requestPath: string
  /** Where output lines are split: one per server, shared by its sessions (see {@link Lines}). */
  readonly lines: Lines
  /** Idle timeout, maximum lifetime and ping interval; without it the session is not watched. */
  readonly watchdog?: WatchdogLimits
  /** The server's reusable buffer for output frames; without it every chunk's frames get a fresh buffer. */
  readonly output?: OutputBuffer
  /** What starts the program off the event loop (the server's spawners); without it, this process starts it. */
  readonly starter?: ProgramStarter | undefined
  /** Called once the program runs (its pid known). */
  readonly onStart?: () => void
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
  /** True when the client left a program that runs on (a shared route's client): `exitCode` and `signal` are then null. */
  detached?: true
}

/**
 * The pipe between a client {@link Connection} and a {@link Program}: output becomes frames (see
 * {@link SessionFraming}), messages become input, with backpressure both ways. When the program
 * ends, its output is delivered and the close code carries its exit status; when the client
 * leaves, stdin is closed, and the process group gets SIGTERM after `closeGrace` and SIGKILL after
 * `killGrace`. A program that cannot start (any error, thrown or emitted) closes with 1011
 * `spawn failed: CODE`. Every pipe is destroyed when the session ends.
 * Backpressure in either direction is published on the `wsexec:session:flow` diagnostics channel
 * (see {@link FlowEvent}).
 */
export class Session {
  readonly id: string
  readonly route: Route
  /** The options, without the program's environment and arguments (the program side has them until it starts). */
  readonly #o: Omit<SessionOptions, 'env' | 'args' | 'file'>
  readonly #connection: Connection
  readonly #program: Program
  readonly #framing: SessionFraming
  readonly #input: Input
  readonly #started = performance.now()
  readonly #in: Traffic = { messages: 0, bytes: 0 }
  readonly #out: Traffic = { messages: 0, bytes: 0 }
  #exit: { code: number | null, signal: string | null } | undefined
  #spawnError: string | null = null
  #clientGone = false
  #closeSent: Close | undefined
  #closeCode: number = CloseCode.NORMAL
  /** After a server shutdown: drops a client that has not completed the close handshake. */
  #disconnectTimer: NodeJS.Timeout | undefined
  #finished = false
  readonly #done: Promise<SessionSummary>
  #resolveDone!: (summary: SessionSummary) => void
  readonly #settled: Promise<void>
  #resolveSettled!: () => void

  constructor (options: SessionOptions) {
    this.id = options.id
    this.route = options.route
    const { env: _env, args: _args, file: _file, ...kept } = options
    this.#o = kept
    this.#connection = options.connection
    this.#program = new Program(options)
    this.#framing = sessionFraming(options.route, options.streams, this.#controls(), options.lines, options.output?.take)
    this.#input = new Input(this.#framing, this.#connection, () => this.#flow('input-paused'), () => this.#flow('input-resumed'))
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
    return this.#program.pid
  }

  /** Bytes the server holds for this session: frames not yet sent, and input not yet written (see `wsexec_buffered_bytes`). */
  bufferedBytes (): { toClient: number, toProgram: number } {
    const { toClient, fromClient } = this.#connection.buffered
    return { toClient, toProgram: this.#input.buffered + fromClient }
  }

  /** Starts the program and bridges it to the connection; a failure to start ends the session with 1011. */
  start (): void {
    const { watchdog } = this.#o
    if (watchdog !== undefined) this.#connection.watch(watchdog, (close) => this.end(close))
    // A channel session without stdin=true: the program reads end of input at once (a terminal
    // stays open); what the client sends before the program runs is dropped too.
    if (!this.#o.streams.stdin && !this.route.tty) this.#input.end()
    this.#connection.start(this.#fromClient())
    this.#program.start(this.#fromProgram(), (failure) => this.#spawnFailed(failure))
  }

  /** The program runs: the pid is logged, and input (some may have waited for it) goes to its stdin. */
  #onStarted (): void {
    this.#o.log.info({ ...this.#logFields(), childPid: this.pid, remote: this.#o.remoteAddress }, 'session start')
    this.#input.attach(this.#program.stdin as Writable)
    this.#o.onStart?.()
  }

  /**
   * Ends the session from the server's side: close code 1001 and the process group terminated.
   * A client that has not completed the close handshake after the route's `killGrace` is dropped.
   */
  shutdown (reason = 'server shutting down'): void {
    this.end({ code: CloseCode.GOING_AWAY, reason })
    if (this.#disconnectTimer === undefined && !this.#finished) {
      this.#disconnectTimer = setTimeout(() => this.#connection.terminate(), this.route.killGraceMs)
    }
  }

  /** Ends the session from the server's side with `close`: stdin closed, the process group terminated. */
  end (close: Close): void {
    this.#sendClose(close)
    this.#stopInput()
    this.#program.terminate()
  }

  /** Ends the session at once: close code 1001, SIGKILL to the process group, the connection dropped. */
  kill (reason = 'server shutting down'): void {
    this.#sendClose({ code: CloseCode.GOING_AWAY, reason })
    this.#stopInput()
    this.#program.kill()
    this.#connection.terminate()
  }

  #fromClient (): ConnectionListener {
    return {
      message: (data, isBinary) => {
        this.#in.messages++
        this.#in.bytes += data.length
        // The server accepts the largest message of any route: this route's own limit is checked here.
        if (data.length > this.route.maxMessageBytes) this.end({ code: CloseCode.MESSAGE_TOO_BIG, reason: 'message too big' })
        this.#input.push(data, isBinary)
      },
      protocolError: (close) => this.#sendClose(close),
      closed: (code) => this.#onClientClose(code)
    }
  }

  #fromProgram (): ProgramListener {
    return {
      started: () => this.#onStarted(),
      output: (chunk, stream) => this.#send(this.#framing.encode(chunk, stream)),
      outputEnd: (stream) => {
        this.#send(this.#framing.flush(stream))
        this.#maybeClose()
      },
      stderrLine: (line) => this.#o.log.warn({ ...this.#logFields(), childPid: this.pid, stderr: line }, 'program stderr'),
      exit: (code, signal) => {
        this.#exit = { code, signal }
        this.#maybeClose()
        this.#maybeFinish()
      },
      lost: () => this.#lost()
    }
  }

  #send (encoded: Encoded | null): void {
    if (encoded === null) return
    const { output } = this.#o
    if (this.#clientGone || this.#closeSent !== undefined) {
      output?.release(encoded.bytes, null)
      return
    }
    this.#out.messages += encoded.messages
    this.#out.bytes += encoded.payloadBytes
    const ok = this.#connection.send(encoded.bytes)
    output?.release(encoded.bytes, this.#connection)
    this.#flow('output-sent')
    if (ok) return
    this.#program.pauseOutput()
    this.#flow('output-paused')
    this.#connection.whenDrained(() => {
      this.#program.resumeOutput()
      this.#flow('output-resumed')
    })
  }

  /** Tells the flow channel's subscribers (tests, tools), if any. */
  #flow (event: FlowEvent['event']): void {
    if (!flowChannel.hasSubscribers) return
    flowChannel.publish({ session: this.id, event, ...this.bufferedBytes() })
  }

  /** The program never started: 1011 with the error's code (1013 when it waited too long), and nothing left to wait for. */
  #spawnFailed ({ code, message, timedOut }: SpawnFailure): void {
    this.#spawnError = code
    this.#o.log.warn({ ...this.#logFields(), err: { code, message }, remote: this.#o.remoteAddress }, timedOut === true ? 'start timeout' : 'spawn failed')
    this.#exit = { code: null, signal: null }
    this.#program.destroy()
    this.#closeWith(timedOut === true ? closeForStartTimeout() : closeForSpawnError(code))
    this.#resolveSettled()
    this.#maybeFinish()
  }

  /** The spawner died before telling the program's exit (the program ends meanwhile): 1011 `spawner lost`. */
  #lost (): void {
    this.#o.log.warn({ ...this.#logFields(), childPid: this.pid, remote: this.#o.remoteAddress }, 'spawner lost')
    this.#exit = { code: null, signal: null }
    this.#sendClose(closeForSpawnerLost())
    this.#stopInput()
    this.#program.destroy()
    this.#resolveSettled()
    this.#maybeFinish()
  }

  /** Sends the exit status once the program has exited and all its output is framed. */
  #maybeClose (): void {
    if (this.#exit === undefined || this.#program.outputOpen) return
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
      resize: (cols, rows) => this.#program.resize(cols, rows),
      refuse: (reason) => this.end({ code: CloseCode.PROTOCOL_ERROR, reason }),
      ignore: (level, reason) => this.#o.log[level]({ ...this.#logFields(), reason }, 'message ignored')
    }
  }

  #sendClose (close: Close): void {
    if (this.#closeSent !== undefined || this.#clientGone) return
    this.#closeSent = close
    this.#closeCode = close.code
    this.#connection.close(close)
  }

  #onClientClose (code: number): void {
    this.#clientGone = true
    if (this.#closeSent === undefined) this.#closeCode = code
    this.#stopInput()
    this.#program.terminateAfterGrace()
    this.#maybeFinish()
  }

  /** Closes stdin, and keeps reading output (discarding it) so the program is never stuck writing. */
  #stopInput (): void {
    this.#input.close()
    this.#program.resumeOutput()
  }

  #logFields (): { session: string, route: string, path: string } {
    return { session: this.id, route: this.route.path, path: this.#o.requestPath }
  }

  #maybeFinish (): void {
    if (this.#finished || this.#exit === undefined || !this.#connection.closed) return
    this.#finished = true
    clearTimeout(this.#disconnectTimer)
    this.#program.destroy()
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
