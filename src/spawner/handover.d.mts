import type { Socket } from 'node:net'

/** Takes a subprocess's pipe away from its socket unread, in a socket only the hand-over uses (see handover.mjs). */
export function detachPipe (socket: Socket): Socket
