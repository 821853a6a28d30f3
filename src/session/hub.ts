/**
 * A program endpoint with connections attached to it (issue 25): the design.
 *
 * A {@link Hub} owns the program side: the {@link Program}, one framing, the program's
 * {@link Input} and the output {@link History}. Each chunk of output is encoded once, into a
 * buffer of its own (as a session encodes it: all frames of a chunk in one buffer), kept in the
 * history with the numbers of its messages and the byte positions of its frames, and written as
 * it is to every attachment that is caught up. Each {@link Attachment} (a client) has its own
 * cursor into the history: a client whose socket holds too much stops getting live output and
 * catches up from the history, chunk by chunk, when it drains. The program is read at the pace of
 * the fastest client: it is paused only while every client is behind. A client more than
 * `maxLag` bytes behind the end is closed 1008 `lagging`; the history keeps what the slowest
 * client still needs and the last `replay` bytes, so memory stays bounded by `maxLag + replay`.
 * A joining client gets the whole messages of the last `replay` bytes, then everything live: no
 * gap, no duplicate, since replay and live writes happen in one synchronous pass.
 * Ordinary routes keep the single-connection {@link Session} (its reused output buffer, one
 * write per chunk): the hub is a separate path and costs them nothing.
 */
import { performance } from 'node:perf_hooks'
import type { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { CloseCode, closeForExit, closeForSpawnError, closeForSpawnerLost, type Close } from '../close-codes.js'
import type { Route, SharePolicy } from '../config/model.js'
import type { Attachment } from './attachment.js'
import type { ConnectionListener } from './connection.js'
import type { SessionControls } from './controls.js'
import { History } from './history.js'
import { Input, type Pausable } from './input.js'
import { Program, type ProgramListener, type ProgramSpec, type SpawnFailure } from './program.js'
import type { SessionSummary } from './session.js'
import type { WatchdogLimits } from './watchdog.js'
import { encodeFrames, Opcode } from './wire/frames.js'
import type { Encoded, Framing } from './wire/framing.js'
import { sessionFraming } from './wire/terminal-framing.js'

/** The close of a client that fell more than `maxLag` bytes behind the fastest. */
export const LAGGING_CLOSE: Close = Object.freeze({ code: CloseCode.POLICY_VIOLATION, reason: 'lagging' })

/** What a hub tells the server: each client's start and end (as sessions), and the shared gauges. */
export interface HubHooks {
  /** The program runs for `client` (its join or the program's start, whichever is later). */
  started (client: Attachment): void
  /** `client` is gone, with its summary. */
  ended (client: Attachment, summary: SessionSummary, wasStarted: boolean): void
  /** The hub takes no more clients (its program ends): the registry forgets it. */
  closed (): void
  /** Shared gauges and the dropped-input counter. */
  sharedClient (delta: number): void
  sharedProgram (delta: number): void
  inputDropped (): void
}

/** What a hub is made of: the program to start (the first client's), the share policy, the logger. */
export interface HubOptions {
  readonly program: ProgramSpec
  readonly share: SharePolicy
  readonly log: FastifyBaseLogger
  readonly requestPath: string
  readonly watchdog: WatchdogLimits
  readonly hooks: HubHooks
}

/** A shared route's program and its clients: see the design above. */
export class Hub {
  readonly route: Route
  readonly #o: HubOptions
  readonly #program: Program
  readonly #framing: Framing
  readonly #input: Input
  readonly #history = new History()
  /** Attached clients that get output, oldest first. */
  readonly #clients: Attachment[] = []
  /** Every client not finished yet (also those closing). */
  readonly #all = new Set<Attachment>()
  readonly #started = performance.now()
  /** The client whose message is being decoded (a refused control closes it). */
  #speaker: Attachment | undefined
  #running = false
  #paused = false
  #inputPaused = false
  #exit: { code: number | null, signal: string | null, spawnError: string | null } | undefined
  #finalClose: Close | undefined
  /** True once the hub takes no more clients. */
  #closed = false
  /** True once the server ends the program (drain, shutdown): clients wait for its exit. */
  #stopping = false
  #lingerTimer: NodeJS.Timeout | undefined
  #disconnectTimer: NodeJS.Timeout | undefined
  /** Settles once the program has ended and every client has had its close. */
  readonly ended: Promise<void>
  #resolveEnded!: () => void

  constructor (options: HubOptions) {
    this.#o = options
    this.route = options.program.route
    this.#program = new Program(options.program)
    this.#framing = sessionFraming(this.route, options.program.streams, this.#controls(), options.program.lines)
    const source: Pausable = {
      pause: () => { this.#inputPaused = true; for (const c of this.#clients) c.connection.pause() },
      resume: () => { this.#inputPaused = false; for (const c of this.#clients) c.connection.resume() }
    }
    this.#input = new Input(this.#framing, source, () => {}, () => {})
    this.ended = new Promise((resolve) => { this.#resolveEnded = resolve })
  }

  /** The program's process id, once started. */
  get pid (): number | undefined {
    return this.#program.pid
  }

  /** True while clients are not read because the program does not take its input. */
  get inputPaused (): boolean {
    return this.#inputPaused
  }

  /** Bytes waiting for the program's stdin. */
  get inputBuffered (): number {
    return this.#input.buffered
  }

  /** True once the hub takes no more clients (its program is ending). */
  get closed (): boolean {
    return this.#closed
  }

  /** Starts the program. */
  start (): void {
    this.#o.hooks.sharedProgram(1)
    this.#program.start(this.#fromProgram(), (failure) => this.#spawnFailed(failure))
  }

  /** Attaches a client: it gets the replay, then every message; its messages reach stdin if it may write. */
  attach (client: Attachment): void {
    clearTimeout(this.#lingerTimer)
    this.#lingerTimer = undefined
    this.#clients.push(client)
    this.#all.add(client)
    this.#o.hooks.sharedClient(1)
    this.#o.log.info({ ...this.#fields(client), remote: client.remoteAddress, clients: this.#clients.length, writer: this.#mayWrite(client) }, 'shared client join')
    client.connection.watch(this.#o.watchdog, (close) => this.#closeClient(client, close))
    client.connection.start(this.#fromClient(client))
    // The program could not even start (out of descriptors): the client gets its close at once.
    if (this.#finalClose !== undefined) return this.#closeClient(client, this.#finalClose)
    if (this.#inputPaused) client.connection.pause()
    if (client.control) {
      const control = Buffer.from(JSON.stringify({ share: { input: this.#o.share.input, write: this.#mayWrite(client) } }))
      client.connection.send(encodeFrames([control], Opcode.TEXT))
    }
    client.seq = this.#history.replayStart(this.#o.share.replayBytes)
    client.byte = this.#history.position(client.seq)
    this.#catchUp(client)
    if (this.#running) this.#clientStarted(client)
  }

  /** The server ends the program: every client is closed 1001, the group terminated; silent clients are dropped after `killGrace`. */
  shutdown (reason: string): void {
    this.#stop({ code: CloseCode.GOING_AWAY, reason })
    this.#program.terminate()
    this.#disconnectTimer ??= setTimeout(() => { for (const c of this.#all) c.connection.terminate() }, this.route.killGraceMs)
  }

  /** Ends at once: 1001, SIGKILL, every connection dropped. */
  kill (reason: string): void {
    this.#stop({ code: CloseCode.GOING_AWAY, reason })
    this.#program.kill()
    for (const c of this.#all) c.connection.terminate()
  }

  #stop (close: Close): void {
    this.#stopping = true
    this.#close()
    for (const c of [...this.#clients]) this.#closeClient(c, close)
    this.#input.close()
    this.#program.resumeOutput()
  }

  #fromClient (client: Attachment): ConnectionListener {
    return {
      message: (data, isBinary) => {
        client.in.messages++
        client.in.bytes += data.length
        if (client.leaving) return
        if (data.length > this.route.maxMessageBytes) return this.#closeClient(client, { code: CloseCode.MESSAGE_TOO_BIG, reason: 'message too big' })
        if (!this.#mayWrite(client)) {
          this.#o.hooks.inputDropped()
          this.#o.log.debug({ ...this.#fields(client) }, 'shared input dropped')
          return
        }
        this.#speaker = client
        this.#input.push(data, isBinary)
        this.#speaker = undefined
      },
      protocolError: (close) => { client.closeSent ??= close; this.#leave(client) },
      closed: (code) => this.#onClientClosed(client, code)
    }
  }

  #fromProgram (): ProgramListener {
    return {
      started: () => {
        this.#running = true
        this.#o.log.info({ route: this.route.path, path: this.#o.requestPath, childPid: this.pid, clients: this.#clients.length }, 'shared program start')
        this.#input.attach(this.#program.stdin as Writable)
        for (const c of this.#clients) this.#clientStarted(c)
      },
      output: (chunk, stream) => this.#deliver(this.#framing.encode(chunk, stream)),
      outputEnd: (stream) => {
        this.#deliver(this.#framing.flush(stream))
        this.#maybeEnd()
      },
      stderrLine: (line) => this.#o.log.warn({ route: this.route.path, path: this.#o.requestPath, childPid: this.pid, stderr: line }, 'program stderr'),
      exit: (code, signal) => {
        this.#exit = { code, signal, spawnError: null }
        this.#maybeEnd()
      },
      lost: () => {
        this.#o.log.warn({ route: this.route.path, path: this.#o.requestPath, childPid: this.pid }, 'spawner lost')
        this.#exit = { code: null, signal: null, spawnError: null }
        this.#program.destroy()
        this.#end(closeForSpawnerLost())
      }
    }
  }

  #clientStarted (client: Attachment): void {
    client.started = true
    this.#o.hooks.started(client)
  }

  /** The writer rule: `all`, or the oldest attached client with `first`. */
  #mayWrite (client: Attachment): boolean {
    const { input } = this.#o.share
    return input === 'all' || (input === 'first' && this.#clients[0] === client)
  }

  /** A chunk's frames: kept, written to every caught-up client; laggards closed; the program paused when nobody keeps up. */
  #deliver (encoded: Encoded | null): void {
    if (encoded === null) return
    this.#history.append(encoded)
    const { maxLagBytes } = this.#o.share
    for (const c of [...this.#clients]) {
      if (!c.blocked) this.#write(c, encoded.bytes, encoded.messages, this.#history.endSeq, this.#history.endByte)
      else if (this.#history.endByte - c.byte > maxLagBytes) this.#closeClient(c, LAGGING_CLOSE)
    }
    if (this.#clients.length > 0 && this.#clients.every((c) => c.blocked) && !this.#paused) {
      this.#paused = true
      this.#program.pauseOutput()
    }
    this.#trim()
  }

  #write (client: Attachment, bytes: Buffer, messages: number, seq: number, byte: number): boolean {
    client.out.messages += messages
    client.out.bytes += bytes.length
    client.seq = seq
    client.byte = byte
    if (client.connection.send(bytes)) return true
    client.blocked = true
    client.connection.whenDrained(() => this.#drained(client))
    return false
  }

  /** Writes what `client` has not had yet, until its socket is full (then it waits for the drain). */
  #catchUp (client: Attachment): boolean {
    for (const piece of this.#history.since(client.seq)) {
      if (!this.#write(client, piece.bytes, piece.messages, piece.seq, piece.byte)) return false
    }
    return true
  }

  #drained (client: Attachment): void {
    if (client.leaving) return
    client.blocked = false
    if (!this.#catchUp(client)) return
    this.#trim()
    if (this.#paused) {
      this.#paused = false
      this.#program.resumeOutput()
    }
  }

  #trim (): void {
    let keep = this.#history.endSeq
    for (const c of this.#clients) keep = Math.min(keep, c.seq)
    this.#history.trim(keep, this.#o.share.replayBytes)
  }

  /** Closes one client (it no longer gets output; the writer role passes on). */
  #closeClient (client: Attachment, close: Close): void {
    if (client.leaving) return
    client.closeSent = close
    client.connection.close(close)
    this.#leave(client)
  }

  #onClientClosed (client: Attachment, code: number): void {
    client.closedWith = code
    this.#leave(client)
    this.#maybeFinish(client)
  }

  /** `client` gets nothing more: the program goes on at the pace of the others, or lingers once nobody is left. */
  #leave (client: Attachment): void {
    const at = this.#clients.indexOf(client)
    if (at === -1) return
    this.#clients.splice(at, 1)
    this.#o.hooks.sharedClient(-1)
    this.#o.log.info({ ...this.#fields(client), closeCode: client.closeSent?.code ?? client.closedWith, clients: this.#clients.length }, 'shared client leave')
    if (this.#inputPaused) client.connection.resume()
    // While the program is paused every client is behind: one fewer leaves it so, unless none is left.
    this.#trim()
    if (this.#clients.length > 0 || this.#closed) return
    // Nobody reads: output is read on (kept for the replay) while the program lingers.
    if (this.#paused) {
      this.#paused = false
      this.#program.resumeOutput()
    }
    this.#lingerTimer = setTimeout(() => this.#abandon(), this.#o.share.lingerMs)
  }

  /** The last client left `linger` ago: the program ends as a session's does when its client leaves. */
  #abandon (): void {
    this.#close()
    this.#input.close()
    this.#program.terminateAfterGrace()
  }

  /** Takes no more clients: the registry forgets the hub. */
  #close (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#lingerTimer)
    this.#o.hooks.closed()
  }

  #spawnFailed ({ code, message }: SpawnFailure): void {
    this.#o.log.warn({ route: this.route.path, path: this.#o.requestPath, err: { code, message } }, 'spawn failed')
    this.#exit = { code: null, signal: null, spawnError: code }
    this.#program.destroy()
    this.#end(closeForSpawnError(code))
  }

  /** Once the program has exited and its output is all framed: every client gets the rest, then the exit's close. */
  #maybeEnd (): void {
    if (this.#exit === undefined || this.#program.outputOpen || this.#finalClose !== undefined) return
    this.#end(closeForExit(this.#exit.code, this.#exit.signal))
  }

  #end (close: Close): void {
    this.#finalClose = close
    this.#close()
    this.#input.close()
    for (const c of [...this.#clients]) {
      for (const piece of this.#history.since(c.seq)) this.#write(c, piece.bytes, piece.messages, piece.seq, piece.byte)
      this.#closeClient(c, close)
    }
    const exit = this.#exit as { code: number | null, signal: string | null }
    this.#o.log.info({ route: this.route.path, path: this.#o.requestPath, childPid: this.pid, exitCode: exit.code, signal: exit.signal, durationMs: Math.round(performance.now() - this.#started) }, 'shared program end')
    this.#o.hooks.sharedProgram(-1)
    for (const c of this.#all) this.#maybeFinish(c)
    this.#resolveEnded()
  }

  /** A client is finished once its connection is closed, and, when the server ends the program, once that has exited. */
  #maybeFinish (client: Attachment): void {
    if (client.finished || client.closedWith === undefined) return
    if (this.#stopping && this.#finalClose === undefined) return
    this.#all.delete(client)
    if (this.#all.size === 0) clearTimeout(this.#disconnectTimer)
    // Closed by the exit, or by the server that ended the program: its summary tells how the program ended.
    const endedWith = this.#stopping || (client.closeSent !== undefined && client.closeSent === this.#finalClose)
    this.#o.hooks.ended(client, client.finish(endedWith ? this.#exit : undefined), client.started)
    if (this.#all.size === 0 && this.#finalClose !== undefined) this.#program.destroy()
  }

  #controls (): SessionControls {
    return {
      endInput: () => this.#input.end(),
      resize: (cols, rows) => this.#program.resize(cols, rows),
      /* c8 ignore next -- only the channel framings refuse a message, and a shared route speaks the plain protocol */
      refuse: (reason) => this.#closeClient(this.#speaker as Attachment, { code: CloseCode.PROTOCOL_ERROR, reason }),
      ignore: (level, reason) => this.#o.log[level]({ ...this.#fields(this.#speaker as Attachment), reason }, 'message ignored')
    }
  }

  #fields (client: Attachment): { session: string, route: string, path: string } {
    return { session: client.id, route: this.route.path, path: this.#o.requestPath }
  }
}
