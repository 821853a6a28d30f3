import { channel } from 'node:diagnostics_channel'

/** What a session publishes on {@link FLOW_CHANNEL}. */
export interface FlowEvent {
  /** The session's id. */
  readonly session: string
  /**
   * `output-paused`/`output-resumed`: the client holds too much, the program's output is not read
   * meanwhile; `input-paused`/`input-resumed`: the program does not take its stdin, the client is
   * not read meanwhile; `output-sent`: frames were written to the client.
   */
  readonly event: 'output-paused' | 'output-resumed' | 'input-paused' | 'input-resumed' | 'output-sent'
  /** Bytes held for the client (written, not yet sent) at that moment. */
  readonly toClient: number
  /** Bytes held for the program (gathered, in the pipe, or unread in the socket) at that moment. */
  readonly toProgram: number
}

/**
 * The name of the `node:diagnostics_channel` on which sessions report backpressure (see
 * {@link FlowEvent}); nothing is built or published while nobody subscribes.
 */
export const FLOW_CHANNEL = 'wsexec:session:flow'

/** The channel itself: Node keeps one per name, so every server in a process shares it. */
export const flowChannel = channel(FLOW_CHANNEL)
