import { performance } from 'node:perf_hooks'
import type { Close } from '../close-codes.js'
import type { Route } from '../config/load.js'
import type { Connection } from './connection.js'
import type { ServedSession } from './served.js'
import type { SessionSummary, Traffic } from './session.js'

/** What an attachment asks of the program endpoint it is attached to (see `Hub`). */
export interface Endpoint {
  readonly pid: number | undefined
  readonly inputPaused: boolean
  /** Bytes waiting for the program's stdin. */
  readonly inputBuffered: number
  shutdown (reason: string): void
  kill (reason: string): void
}

/**
 * One client attached to a program endpoint: its connection, its cursor into the endpoint's
 * output history (the number of the next message it gets and that message's byte position), its
 * traffic, and its place in the server's books (a {@link ServedSession}).
 */
export class Attachment implements ServedSession {
  readonly id: string
  readonly route: Route
  readonly connection: Connection
  readonly remoteAddress: string
  /** True when the client asked for the share control message (`wsexec.share.v1`). */
  readonly control: boolean
  readonly joined = performance.now()
  /** The next message this client gets, and its byte position in the output. */
  seq = 0
  byte = 0
  /** True while the client's socket holds too much: it gets no live output until it drains. */
  blocked = false
  /** The close sent to the client, once sent. */
  closeSent: Close | undefined
  /** The close code the client sent (or 1006), once its connection is closed. */
  closedWith: number | undefined
  /** True once the program's start was counted for this client. */
  started = false
  readonly in: Traffic = { messages: 0, bytes: 0 }
  readonly out: Traffic = { messages: 0, bytes: 0 }
  readonly #endpoint: Endpoint
  #finished = false
  readonly done: Promise<SessionSummary>
  #resolveDone!: (summary: SessionSummary) => void
  readonly settled: Promise<void>

  constructor (id: string, route: Route, connection: Connection, remoteAddress: string, endpoint: Endpoint, control = false) {
    this.control = control
    this.id = id
    this.route = route
    this.connection = connection
    this.remoteAddress = remoteAddress
    this.#endpoint = endpoint
    this.done = new Promise((resolve) => { this.#resolveDone = resolve })
    this.settled = this.done.then(() => {})
  }

  get pid (): number | undefined {
    return this.#endpoint.pid
  }

  get inputPaused (): boolean {
    return this.#endpoint.inputPaused
  }

  /** True once the client was closed or left: it gets nothing more. */
  get leaving (): boolean {
    return this.closeSent !== undefined || this.closedWith !== undefined
  }

  /** True once its summary is given. */
  get finished (): boolean {
    return this.#finished
  }

  bufferedBytes (): { toClient: number, toProgram: number } {
    // The program's input is the endpoint's: counted once, with its oldest client.
    return { toClient: this.connection.writableLength, toProgram: this.#endpoint.inputBuffered }
  }

  shutdown (reason = 'server shutting down'): void {
    this.#endpoint.shutdown(reason)
  }

  kill (reason = 'server shutting down'): void {
    this.#endpoint.kill(reason)
  }

  /** Gives the summary (once): how the program ended if it ended with this client, else `detached`. */
  finish (exit: { code: number | null, signal: string | null, spawnError: string | null } | undefined): SessionSummary {
    this.#finished = true
    const summary: SessionSummary = {
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      spawnError: exit?.spawnError ?? null,
      closeCode: this.closeSent?.code ?? this.closedWith as number,
      closedBy: this.closeSent === undefined ? 'client' : 'server',
      durationMs: Math.round(performance.now() - this.joined),
      in: { ...this.in },
      out: { ...this.out }
    }
    if (exit === undefined) summary.detached = true
    this.#resolveDone(summary)
    return summary
  }
}
