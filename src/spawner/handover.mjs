// The Node internals the spawner's hand-over relies on (plain JavaScript: worker.mjs imports it).
import { Socket } from 'node:net'

/**
 * Takes a subprocess's pipe away from its `net.Socket` at once, before a byte is read, and wraps
 * it in a new socket that nothing but the hand-over touches. Node internals relied on:
 * - a socket starts reading its handle when it is created (`read(0)` in its constructor), but
 *   the bytes come only from the event loop's next poll: `socket._handle.readStop()` now keeps
 *   every byte in the pipe;
 * - with `socket._handle` set to null, whatever the child process's own code (or execa) does to
 *   the old socket when the program exits (`destroy()`, `resume()`) cannot read or close a pipe
 *   still waiting for its turn (Node sends one handle at a time, each after the server's
 *   NODE_HANDLE_ACK); the caller destroys the old socket once the program has exited, so that
 *   execa settles (a destroyed stdin before the exit would count as a failure);
 * - `new Socket({ handle, manualStart: true })` wraps a handle without reading it; `send(m, socket)`
 *   then detaches it and closes it here once the server has it.
 * test/spawner/handover.test.ts fails if any of this changes.
 */
export function detachPipe (socket) {
  const handle = socket._handle
  handle.readStop()
  handle.reading = false
  socket._handle = null
  return new Socket({ handle, manualStart: true })
}
