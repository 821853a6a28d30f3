import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { FastifyBaseLogger } from 'fastify'
import { descriptorShortage } from '../session/descriptors.js'
import { ProcessGroup } from '../session/process-group.js'
import type { Reply, SpawnSpec } from './protocol.js'
import { ReadBuffer } from './read-buffer.js'
import { RemoteProgram } from './remote.js'

/** The spawner's module, next to this one (in `src/` and, copied by the build, in `dist/`). */
const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url))

/** The spawner's Node flags (see #fork). */
const SPAWNER_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--expose-gc']

/**
 * Starts a spawner is sent at once at most; the rest wait in the server's queue. A spawner starts
 * programs one after the other: a few waiting keep it busy, while hundreds sent at once (a burst of
 * upgrades) would all be started in one turn of its event loop, with their pipes waiting for the
 * server's acknowledgements and their garbage uncollected (measured with 500 sessions opened 50 at
 * a time: about 58 KiB of spawner memory per session with every start sent at once).
 */
export const STARTS_PER_SPAWNER = 8

/** How long a closing server waits for a spawner to exit after its channel is closed, in ms. */
const EXIT_WAIT_MS = 10_000

/** Why a program did not start: the error code (ENOENT, EMFILE, ERR_INVALID_ARG_VALUE…) and its message. */
export interface StartError {
  readonly code: string
  readonly message: string
}

/**
 * The outcome of a start: the program, why it did not start, `lost` (its spawner died first),
 * `cancelled` (the client left before the start was sent) or `timedOut` (it waited in the queue
 * longer than the start timeout, and was never sent).
 */
export type StartOutcome =
  | { program: RemoteProgram }
  | { error: StartError }
  | { lost: true }
  | { cancelled: true }
  | { timedOut: true }

/** What starts programs off the server's event loop: a {@link SpawnerPool} (or a fake one in tests). */
export interface ProgramStarter {
  /** Starts asked for and not yet answered. */
  readonly inFlight: number
  /** Starts a program; never rejects. */
  spawn (spec: SpawnSpec, signal: AbortSignal): Promise<StartOutcome>
}

interface Pending {
  resolve: (outcome: StartOutcome) => void
  /** The pipes handed over so far, by fd. */
  pipes: Array<Socket | undefined>
  /** Whether stderr is a pipe too (else only stdin and stdout are handed over). */
  stderr: boolean
}

interface Spawner {
  child: ChildProcess
  ready: boolean
  /** Starts asked for and not yet answered. */
  pending: Map<number, Pending>
  /** Programs started and not yet exited. */
  running: Map<number, RemoteProgram>
}

interface Queued {
  id: number
  spec: SpawnSpec
  resolve: (outcome: StartOutcome) => void
  /** Takes it out of the queue once it has waited the start timeout. */
  timer: NodeJS.Timeout | undefined
}

/** How long a start may wait in the queue by default, in ms (`startTimeout`). */
const START_TIMEOUT_MS = 30_000

/**
 * The spawner processes of one server: `count` Node processes (see `worker.mjs`), forked with an
 * IPC channel, each starting programs with execa and handing their pipes back, so that the
 * server's event loop never forks. The programs' output is read into one buffer (see
 * {@link ReadBuffer}). A program is made only once its pipes and its pid have all
 * arrived; its exit status comes after them. A spawner that dies is replaced; its programs'
 * sessions are told (`lost`).
 */
export class SpawnerPool implements ProgramStarter {
  readonly #count: number
  readonly #log: FastifyBaseLogger
  /** The buffer every program's stdout and stderr are read into, read after read. */
  readonly #reads: ReadBuffer
  readonly #spawners = new Set<Spawner>()
  readonly #queue: Queued[] = []
  #nextId = 0
  #inFlight = 0
  #closed = false
  readonly #ready: Promise<void>
  #resolveReady!: () => void

  /** How long a start may wait in the queue for a spawner, in ms, read at each start (a reload changes it). */
  readonly #startTimeoutMs: () => number

  constructor (count: number, log: FastifyBaseLogger, startTimeoutMs: () => number = () => START_TIMEOUT_MS) {
    this.#count = count
    this.#log = log
    this.#startTimeoutMs = startTimeoutMs
    this.#reads = new ReadBuffer(log)
    this.#ready = new Promise((resolve) => { this.#resolveReady = resolve })
  }

  /** Settles once a spawner is ready (or the pool is closed): starts asked for from then on are sent at once. */
  get ready (): Promise<void> {
    return this.#ready
  }

  get inFlight (): number {
    return this.#inFlight
  }

  /** Starts waiting in the server for a spawner with room (see {@link STARTS_PER_SPAWNER}). */
  get queued (): number {
    return this.#queue.length
  }

  /** Forks the spawners (idempotent); starts asked for meanwhile wait for the first ready one. */
  start (): void {
    while (!this.#closed && this.#spawners.size < this.#count) this.#fork()
  }

  /**
   * Starts a program in a spawner. Never rejects: a start that fails gives `error`, one whose
   * spawner died `lost`, one whose `signal` aborted before it was sent `cancelled`, one that waited
   * in the queue longer than the start timeout `timedOut`.
   */
  async spawn (spec: SpawnSpec, signal: AbortSignal): Promise<StartOutcome> {
    // The pipes come to the server too: without descriptors for them, nothing is started.
    const shortage = descriptorShortage()
    if (shortage !== undefined) return { error: { code: String(shortage.code), message: shortage.message } }
    if (this.#closed) return { lost: true }
    this.start()
    this.#inFlight++
    let cancel: (() => void) | undefined
    const outcome = await new Promise<StartOutcome>((resolve) => {
      const queued: Queued = { id: ++this.#nextId, spec, resolve, timer: undefined }
      this.#queue.push(queued)
      // Called off while it waits for a spawner: it leaves the queue (and stops counting) at once.
      cancel = () => this.#leave(queued, { cancelled: true })
      signal.addEventListener('abort', cancel, { once: true })
      this.#dispatch()
      if (this.#queue.at(-1) === queued) queued.timer = setTimeout(() => this.#leave(queued, { timedOut: true }), this.#startTimeoutMs())
    })
    // The signal may live as long as the program: its listener (and the spec it holds) must not.
    signal.removeEventListener('abort', cancel as () => void)
    this.#inFlight--
    return outcome
  }

  /** Takes a start that still waits out of the queue, with `outcome`. */
  #leave (queued: Queued, outcome: StartOutcome): void {
    const at = this.#queue.indexOf(queued)
    if (at === -1) return
    this.#queue.splice(at, 1)
    clearTimeout(queued.timer)
    queued.resolve(outcome)
  }

  /** Closes every spawner's channel (they end what is left of their programs) and waits for them to exit. */
  async close (): Promise<void> {
    this.#closed = true
    this.#resolveReady()
    for (const queued of this.#queue.splice(0)) {
      clearTimeout(queued.timer)
      queued.resolve({ lost: true })
    }
    await Promise.all([...this.#spawners].map(async (s) => {
      // A spawner that exited has left the set already (see #onExit).
      const exited = once(s.child, 'exit', { signal: AbortSignal.timeout(EXIT_WAIT_MS) }).catch(() => {})
      if (s.child.connected) s.child.disconnect()
      await exited
    }))
  }

  #fork (): void {
    // No --import of the server's loaders: plain JavaScript, the spawner boots in a tenth of a second.
    // A spawner holds an execa subprocess per running program and allocates little else: a 1 MiB
    // young generation and V8's size-over-speed heuristics keep its RSS per program down (measured
    // with 300 idle `cat` sessions: 110 KiB per program without them, 20-40 KiB with them);
    // --expose-gc lets it collect the garbage of a burst of starts (see collector.mjs).
    const child = fork(WORKER, [], { execArgv: SPAWNER_FLAGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' })
    const spawner: Spawner = { child, ready: false, pending: new Map(), running: new Map() }
    this.#spawners.add(spawner)
    child.on('message', (reply: Reply, handle?: Socket) => this.#onReply(spawner, reply, handle))
    child.once('exit', (code, signal) => this.#onExit(spawner, code, signal))
    // A write to a dead spawner's channel fails; its 'exit' settles what it held.
    child.on('error', () => {})
  }

  /** Sends each queued start to the ready spawner with the fewest in flight, while one has fewer than {@link STARTS_PER_SPAWNER}. */
  #dispatch (): void {
    while (this.#queue.length > 0) {
      let best: Spawner | undefined
      for (const s of this.#spawners) if (s.ready && (best === undefined || s.pending.size < best.pending.size)) best = s
      if (best === undefined || best.pending.size >= STARTS_PER_SPAWNER) return
      const queued = this.#queue.shift() as Queued
      clearTimeout(queued.timer)
      best.pending.set(queued.id, { resolve: queued.resolve, pipes: [], stderr: queued.spec.stderr })
      best.child.send({ t: 'spawn', id: queued.id, spec: queued.spec })
    }
  }

  #onReply (spawner: Spawner, reply: Reply, handle: Socket | undefined): void {
    switch (reply.t) {
      case 'ready':
        spawner.ready = true
        this.#resolveReady()
        this.#log.debug({ spawnerPid: spawner.child.pid }, 'spawner ready')
        this.#dispatch()
        return
      case 'exit': {
        const program = spawner.running.get(reply.id) as RemoteProgram
        spawner.running.delete(reply.id)
        program.tell('exit', reply.code, reply.signal)
        return
      }
      case 'stdio':
        // Held until `started`: the program is made only when every pipe is here. Output pipes
        // are taken from the socket Node made for them now, before a byte is read.
        (spawner.pending.get(reply.id) as Pending).pipes[reply.fd] = reply.fd === 0 ? handle : this.#reads.adopt(handle as Socket)
        return
      case 'terminal': {
        // A terminal program's one socket: its input and its output.
        const socket = this.#reads.adopt(handle as Socket, true)
        const pending = spawner.pending.get(reply.id) as Pending
        pending.pipes[0] = socket
        pending.pipes[1] = socket
        return
      }
    }
    const pending = spawner.pending.get(reply.id) as Pending
    spawner.pending.delete(reply.id)
    // The spawner has room for one more start.
    this.#dispatch()
    if (reply.t === 'failed') return pending.resolve({ error: { code: reply.code, message: reply.message } })
    const id = reply.id
    // A terminal's size is set by its spawner (which ignores it once the program exited; a send
    // to a dead spawner is an 'error' event, ignored).
    const program = new RemoteProgram(reply.pid, pending.pipes, (size) => { spawner.child.send({ t: 'resize', id, ...size }) })
    spawner.running.set(id, program)
    const { pipes } = pending
    // stdin, stdout and, when piped, stderr.
    if (pipes.filter((pipe) => pipe !== undefined).length === (pending.stderr ? 3 : 2)) return pending.resolve({ program })
    // A pipe that did not arrive: out of descriptors while Node received it (EMFILE in recvmsg), it
    // was refused and the spawner gave up after its retries. The program cannot be bridged: it is
    // ended (its exit, still to come, finds it in `running`) and its session fails alone.
    /* c8 ignore next -- a pipe that did arrive, when the descriptors ran out between two of them: the test takes them all before the first arrives */
    for (const pipe of pipes) pipe?.destroy()
    new ProcessGroup(reply.pid, 0).kill()
    this.#log.warn({ spawnerPid: spawner.child.pid, childPid: reply.pid }, 'pipe not received')
    pending.resolve({ error: { code: 'EMFILE', message: 'a pipe of the program did not reach the server' } })
  }

  /** A spawner ended: its programs' sessions are told, and (unless the server is closing) a new one starts. */
  #onExit (spawner: Spawner, code: number | null, signal: NodeJS.Signals | null): void {
    this.#spawners.delete(spawner)
    if (!this.#closed) this.#log.error({ spawnerPid: spawner.child.pid, code, signal }, 'spawner lost')
    for (const pending of spawner.pending.values()) {
      /* c8 ignore next -- a spawner that dies between handing over a pipe and its 'started' (microseconds apart): no test can hold it there */
      for (const pipe of pending.pipes) pipe?.destroy()
      pending.resolve({ lost: true })
    }
    for (const program of spawner.running.values()) program.tell('lost')
    if (this.#closed) return
    this.start()
    this.#dispatch()
  }
}
