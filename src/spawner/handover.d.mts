import type { Socket } from 'node:net'

/** Takes a subprocess's pipe away from its socket unread, in a socket only the hand-over uses (see handover.mjs). */
export function detachPipe (socket: Socket): Socket

/**
 * Destroys the old sockets of a subprocess's pipes once {@link detachPipe} took them (stdin, stdout,
 * stderr or null): execa stops watching them and frees what that holds.
 */
export function releaseSockets (pipes: ReadonlyArray<Socket | null>): void

/** True when `socket` has the shape {@link readIntoBuffer} relies on (a `_handle` with `readStop()`). */
export function canReadIntoBuffer (socket: Socket): boolean

/**
 * Takes a pipe the server was handed away from its socket unread, in a socket that reads into
 * `buffer` (net.Socket's `onread`): `callback(nread, buffer)` per read, from the first `resume()` on;
 * written to as well when `writable`.
 */
export function readIntoBuffer (socket: Socket, buffer: Buffer, callback: (nread: number, buffer: Buffer) => boolean | undefined, writable?: boolean): Socket
