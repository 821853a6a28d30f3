import { constants } from 'node:os'

/** Every WebSocket close code wsexec sends, by name (RFC 6455 §7.4 and the 4000–4999 private range). */
export const CloseCode = Object.freeze({
  /** The program exited with status 0. */
  NORMAL: 1000,
  /** The server is shutting down or draining. */
  GOING_AWAY: 1001,
  /** The client broke the WebSocket protocol. */
  PROTOCOL_ERROR: 1002,
  /** A text message from the client was not valid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** The client broke a rule of the route: a shared route's client that lags too far behind (`lagging`). */
  POLICY_VIOLATION: 1008,
  /** A message from the client was larger than allowed. */
  MESSAGE_TOO_BIG: 1009,
  /** The program could not be started, or the session failed inside the server. */
  INTERNAL_ERROR: 1011,
  /** Try again later: the program's start waited longer than `startTimeout` for a spawner. */
  TRY_AGAIN_LATER: 1013,
  /** The program exited with status N: the code is EXIT_BASE + N (4001–4255). */
  EXIT_BASE: 4000,
  /** The program was killed by signal N: the code is SIGNAL_BASE + N (4129–4192), like a shell's 128 + N. */
  SIGNAL_BASE: 4128
})

/** A close code with the reason sent beside it (at most 123 bytes). */
export interface Close {
  code: number
  reason: string
}

const signalNumbers: Readonly<Record<string, number>> = constants.signals

/**
 * The close frame for a program that ended with `exitCode` or was killed by `signal`:
 * 1000 `exit 0`, 4000 + status `exit 3`, 4128 + signal number `signal SIGKILL`.
 */
export function closeForExit (exitCode: number | null, signal: string | null): Close {
  if (signal !== null) {
    const number = signalNumbers[signal] ?? 0
    return { code: CloseCode.SIGNAL_BASE + number, reason: `signal ${signal}` }
  }
  const status = exitCode ?? 0
  return { code: status === 0 ? CloseCode.NORMAL : CloseCode.EXIT_BASE + (status & 0xff), reason: `exit ${status}` }
}

/** The close frame for a program that could not be started (`spawn failed: ENOENT`). */
export function closeForSpawnError (code: string): Close {
  return { code: CloseCode.INTERNAL_ERROR, reason: `spawn failed: ${code}` }
}

/** The close frame of a session whose start waited in the queue longer than `startTimeout`: 1013 `start timeout`. */
export function closeForStartTimeout (): Close {
  return { code: CloseCode.TRY_AGAIN_LATER, reason: 'start timeout' }
}

/** The close frame of a session whose spawner died before it could tell the program's exit. */
export function closeForSpawnerLost (): Close {
  return { code: CloseCode.INTERNAL_ERROR, reason: 'spawner lost' }
}

const protocolErrors: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.MESSAGE_TOO_BIG,
  // A frame length beyond 2^53 - 1: ws closes with 1009 without reading it.
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CloseCode.MESSAGE_TOO_BIG
}

/**
 * The close code ws sends when a client breaks the protocol, from the error's `code`:
 * `WS_ERR_INVALID_UTF8` 1007, `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH` and `WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH` 1009, any other 1002.
 */
export function closeForProtocolError (code: string | undefined): number {
  return protocolErrors[code ?? ''] ?? CloseCode.PROTOCOL_ERROR
}
