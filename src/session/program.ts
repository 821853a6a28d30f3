import type { Readable, Writable } from 'node:stream'
import type { Route } from '../config/load.js'
import type { ProgramStarter, StartOutcome } from '../spawner/pool.js'
import { readChunks } from '../spawner/read-buffer.js'
import type { RemoteProgram } from '../spawner/remote.js'
import { spawnProgram, spawnSpec, spawnTerminal } from './launch.js'
import { ProcessGroup } from './process-group.js'
import { TerminalGroup, type TerminalProcess } from './pty.js'
import { stderrUse, type SessionStreams } from './streams.js'
import type { StreamName } from './wire/framing.js'
import { LineSplitter } from './wire/line-splitter.js'
import type { Lines } from './wire/lines.js'

/** What the program side is started from. */
export interface ProgramSpec {
  readonly route: Route
  /** Absolute path of the program. */
  readonly file: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  /** The streams settled before the upgrade: which outputs are read, the terminal size. */
  readonly streams: SessionStreams
  /** Where stderr lines are split when the route logs them (shared by the server's sessions). */
  readonly lines: Lines
  /** What starts the program off the event loop (the server's spawners), terminal programs included; without it, this process starts it. */
  readonly starter?: ProgramStarter | undefined
}

/** What the program side tells its session. */
export interface ProgramListener {
  /** The program runs: its pid, stdin and output are there (at once in-process, later from a spawner). */
  started (): void
  /**
   * A chunk of output of `stream` (stdout, or stderr when it goes to the client). It may be a view
   * of the server's read buffer, overwritten by the next read: nothing may keep it after the call.
   */
  output (chunk: Buffer, stream: StreamName): void
  /** `stream` ended (EOF, or destroyed when an orphan held it open): nothing more comes from it. */
  outputEnd (stream: StreamName): void
  /** One line of stderr, on routes that log it. */
  stderrLine (line: string): void
  /** The program exited (its output may still be open). */
  exit (code: number | null, signal: string | null): void
  /** The spawner that started the program died before telling its exit: its group is being ended. */
  lost (): void
}

/** Why the program did not start: the error code (ENOENT, EMFILE…) and message; `timedOut` when it waited too long for a spawner. */
export interface SpawnFailure {
  readonly code: string
  readonly message: string
  readonly timedOut?: true
}

/** The child a session runs: execa's subprocess, a program a spawner started, or a program on a pseudo-terminal. */
type Child = ReturnType<typeof spawnProgram> | RemoteProgram | TerminalProcess

/**
 * The program side of a session, the mirror of its connection: stdin, stdout, stderr, exit, and
 * the process group's end (SIGTERM, then SIGKILL after the route's `killGrace`). A terminal
 * ({@link TerminalProcess}) plugs in here with the same shape. Output pipes still held open by
 * another process once the program has exited are destroyed after `closeGrace + killGrace`.
 */
export class Program {
  /** What the program side needs once the program runs (not its environment and arguments). */
  readonly #spec: Pick<ProgramSpec, 'route' | 'streams' | 'lines'>
  /** The whole spec until the start: then dropped, so that a session does not keep the program's environment. */
  #launch: ProgramSpec | undefined
  #child: Child | undefined
  #group: ProcessGroup | undefined
  readonly #outputs: Readable[] = []
  #openOutputs = 0
  #exited = false
  #graceTimer: NodeJS.Timeout | undefined
  /** After the exit: destroys output pipes that something else still holds open. */
  #orphanTimer: NodeJS.Timeout | undefined
  /** Aborted when the program is no longer wanted before it started: a start not yet sent to a spawner is not sent. */
  #leaving: AbortController | undefined
  /** A terminal size asked for before the program ran (a spawner had not answered yet): set once it runs. */
  #size: { cols: number, rows: number } | undefined
  /** How a program ended before it started is ended once it starts (`grace`: its client left, as {@link terminateAfterGrace}). */
  #unwanted: 'grace' | 'terminate' | 'kill' | undefined

  constructor (spec: ProgramSpec) {
    this.#spec = { route: spec.route, streams: spec.streams, lines: spec.lines }
    this.#launch = spec
  }

  /** The process id, once started. */
  get pid (): number | undefined {
    return this.#child?.pid
  }

  /** The program's stdin, once started. */
  get stdin (): Writable | undefined {
    return this.#child?.stdin as Writable | undefined
  }

  /** True while an output stream the session reads is open. */
  get outputOpen (): boolean {
    return this.#openOutputs > 0
  }

  /**
   * Starts the program and reports to `listener`. A program that cannot start (any error, thrown
   * or reported by execa's result) calls `failed` instead, once, with its code.
   */
  start (listener: ProgramListener, failed: (failure: SpawnFailure) => void): void {
    const spec = this.#launch as ProgramSpec
    this.#launch = undefined
    const { route, starter } = spec
    if (starter !== undefined) {
      this.#leaving = new AbortController()
      starter.spawn(spawnSpec(spec), this.#leaving.signal).then((outcome) => this.#started(outcome, listener, failed), () => {})
      return
    }
    let child: Child
    try {
      child = route.tty ? spawnTerminal(spec) : spawnProgram(spec)
    } catch (err) {
      // Out of descriptors (EMFILE, ENFILE) or invalid arguments (execa's TypeError for a NUL byte).
      const { code, message } = err as NodeJS.ErrnoException
      failed({ code: code ?? 'ERR_INVALID_ARG_VALUE', message })
      return
    }
    this.#child = child
    if (child.pid === undefined) {
      // ENOENT, EACCES, EAGAIN, E2BIG…: execa's result names the error (an 'error' event comes for
      // some only). A terminal program always has a pid: forkpty throws or runs the program.
      ;(child as ReturnType<typeof spawnProgram>).then((result) => failed({ code: String(result.code), message: String(result.shortMessage) }))
      return
    }
    this.#run(child as Child & { pid: number }, listener)
  }

  /** A spawner's answer: the program, or why there is none. */
  #started (outcome: StartOutcome, listener: ProgramListener, failed: (failure: SpawnFailure) => void): void {
    // Answered: nothing is left to call off (an end asked for from now on acts on the program).
    this.#leaving = undefined
    if ('error' in outcome) return failed(outcome.error)
    if ('lost' in outcome) return this.#lost(listener)
    // Nobody wants it any more, and it was never sent: an end without a status.
    if ('cancelled' in outcome) return listener.exit(null, null)
    if ('timedOut' in outcome) return failed({ code: 'ETIMEDOUT', message: 'the start waited startTimeout for a spawner', timedOut: true })
    const program = outcome.program
    this.#child = program
    program.once('lost', () => this.#lost(listener))
    this.#run(program, listener)
    if (this.#size !== undefined) program.resize(this.#size.cols, this.#size.rows)
    program.replay()
    // The server ended the session while the program was starting: it ends at once; a client that
    // left meanwhile gives it its closeGrace, as if it had left just after the start.
    if (this.#unwanted === 'kill') this.kill()
    else if (this.#unwanted === 'terminate') this.terminate()
    else if (this.#unwanted === 'grace') this.terminateAfterGrace()
  }

  /** The program runs: its exit, its group and its output are watched, then the listener is told. */
  #run (child: Child & { pid: number }, listener: ProgramListener): void {
    const { route, streams } = this.#spec
    child.once('exit', (code: number | null, signal: string | null) => this.#onExit(listener, code, signal))
    this.#group = route.tty ? new TerminalGroup(child.pid, route.killGraceMs) : new ProcessGroup(child.pid, route.killGraceMs)
    this.#watch(listener, child.stdout as Readable, 'stdout')
    const stderr = stderrUse(route, streams)
    if (stderr === 'frames') this.#watch(listener, child.stderr as Readable, 'stderr')
    else if (stderr === 'log') this.#logStderr(listener, child.stderr as Readable)
    listener.started()
  }

  /** The spawner died: the program's group is ended from here, and no exit will be told. */
  #lost (listener: ProgramListener): void {
    this.#exited = true
    clearTimeout(this.#graceTimer)
    this.#group?.terminate()
    listener.lost()
  }

  /** Sets a terminal program's size (once it runs, when a spawner has not started it yet). */
  resize (cols: number, rows: number): void {
    const child = this.#child as TerminalProcess | RemoteProgram | undefined
    if (child === undefined) this.#size = { cols, rows }
    else child.resize(cols, rows)
  }

  /** Stops reading output (the client holds too much). */
  pauseOutput (): void {
    for (const s of this.#outputs) s.pause()
  }

  /** Reads output again (also to discard it once nobody reads it: a program is never stuck writing). */
  resumeOutput (): void {
    for (const s of this.#outputs) s.resume()
  }

  /** The process group gets SIGTERM, and SIGKILL after `killGrace`; idempotent. */
  terminate (): void {
    if (this.#group === undefined) return this.#unwant('terminate')
    this.#group.terminate()
  }

  /** SIGKILL to the process group now. */
  kill (): void {
    if (this.#group === undefined) return this.#unwant('kill')
    this.#group.kill()
  }

  /** The client left: the process group is terminated after the route's `closeGrace` unless the program exits first. */
  terminateAfterGrace (): void {
    if (this.#group === undefined) return this.#unwant('grace')
    if (this.#exited) return
    const group = this.#group
    this.#graceTimer = setTimeout(() => group.terminate(), this.#spec.route.closeGraceMs)
  }

  /** Destroys the program's pipes (those already closed stay so) and stops its timers: no descriptor outlives the session. */
  destroy (): void {
    clearTimeout(this.#orphanTimer)
    this.#destroyPipes()
  }

  /** Ended before it started: the start is not sent if it still waits for a spawner, or the program is ended as soon as it runs. */
  #unwant (how: 'grace' | 'terminate' | 'kill'): void {
    // The strongest asked for wins: kill, then terminate, then grace.
    if (this.#unwanted === undefined || how === 'kill' || (how === 'terminate' && this.#unwanted === 'grace')) this.#unwanted = how
    this.#leaving?.abort()
  }

  #watch (listener: ProgramListener, stream: Readable, name: StreamName): void {
    this.#outputs.push(stream)
    this.#openOutputs++
    let open = true
    // 'end' at EOF; only 'close' when the pipe is destroyed (an orphan held it open) or fails.
    const finish = (): void => {
      if (!open) return
      open = false
      this.#openOutputs--
      if (this.#openOutputs === 0) clearTimeout(this.#orphanTimer)
      listener.outputEnd(name)
    }
    readChunks(stream, (chunk) => listener.output(chunk, name))
    stream.once('end', finish)
    stream.once('close', finish)
    stream.on('error', ignoreStreamError)
    // A pipe read by 'data' from its arrival (a spawner's, when the read buffer is off) may have ended before.
    if (ended(stream)) finish()
  }

  #logStderr (listener: ProgramListener, stream: Readable): void {
    const splitter = new LineSplitter(this.#spec.route.maxLineBytes)
    const lines = this.#spec.lines
    const flush = (): void => {
      for (let i = 0; i < lines.count; i++) listener.stderrLine(lines.line(i).toString('utf8'))
      lines.release()
    }
    const end = (): void => { splitter.end(lines); flush() }
    // The splitter copies what it holds of an unfinished line: the chunk may be the server's read buffer.
    readChunks(stream, (chunk) => { splitter.push(chunk, lines); flush() })
    stream.once('end', end)
    stream.on('error', ignoreStreamError)
    if (ended(stream)) end()
  }

  #onExit (listener: ProgramListener, code: number | null, signal: string | null): void {
    this.#exited = true
    clearTimeout(this.#graceTimer)
    // Background children of the program end with it.
    this.#group?.terminate()
    // A process outside the group (setsid) may hold the output open: it gets as long as a client
    // that left gives the program, then the pipes are destroyed and the session ends.
    if (this.#openOutputs > 0) {
      const { closeGraceMs, killGraceMs } = this.#spec.route
      this.#orphanTimer = setTimeout(() => this.#destroyPipes(), closeGraceMs + killGraceMs)
    }
    listener.exit(code, signal)
  }

  #destroyPipes (): void {
    const child = this.#child
    child?.stdin?.destroy()
    child?.stdout?.destroy()
    child?.stderr?.destroy()
  }
}

/* c8 ignore next 3 -- reading a pipe does not fail on Linux; the listener keeps a failure from being an uncaught 'error' ('close' follows) */
function ignoreStreamError (): void {
  // nothing to do: 'close' ends the stream
}

/** True when `stream` has ended (all read) or is gone: no event will say so any more. */
function ended (stream: Readable): boolean {
  return stream.readableEnded || stream.destroyed
}
