// The Node internals the spawner's hand-over relies on, on both sides of it (plain JavaScript:
// worker.mjs imports it, and so does the server's pool.ts).
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
 *   NODE_HANDLE_ACK); the caller may destroy the old socket at once (worker.mjs does, so that
 *   execa stops watching it), as it holds no handle any more;
 * - `new Socket({ handle, manualStart: true })` wraps a handle without reading it; `send(m, socket)`
 *   then detaches it and closes it here once the server has it.
 * test/spawner/handover.test.ts fails if any of this changes.
 */
export function detachPipe (socket) {
  return new Socket({ handle: takeHandle(socket), manualStart: true })
}

/**
 * What stdin's old socket is destroyed with: one error for every program (none is made per
 * program, nor a stack trace kept with it until the program exits).
 */
const HANDED_OVER = Object.assign(new Error('stdin handed over to the server'), { code: 'WSEXEC_HANDED_OVER' })

/**
 * Destroys the old sockets of a program's pipes as soon as they are handed over, not at its exit:
 * they hold no handle (nothing is read or closed), and execa stops watching them at once, which
 * frees about half of what its subprocess holds while the program runs (measured: 37 KiB of heap
 * per idle program before, 23 KiB after). execa then counts the early end of stdin as a failure
 * of its result, which the spawner never reads (`reject: false`; only the 'exit' event is used).
 */
export function releaseSockets (pipes) {
  const [stdin, ...outputs] = pipes
  // execa's own 'error' listener (its wait for the stream) hears it too; this one makes sure the
  // error is never unhandled.
  stdin.on('error', ignore)
  stdin.destroy(HANDED_OVER)
  for (const pipe of outputs) pipe?.destroy()
}

/** The old stdin's error needs no handling: the socket is gone, the pipe is the server's. */
function ignore () {}

/**
 * True when `socket` has the shape {@link readIntoBuffer} relies on: a `_handle` with `readStop()`.
 * The server checks each pipe it is handed and keeps the plain socket when this is false.
 */
export function canReadIntoBuffer (socket) {
  return typeof socket._handle?.readStop === 'function'
}

/**
 * The server's side of the hand-over: takes a pipe the server was just handed away from the
 * socket Node made for it, before a byte is read (as {@link detachPipe} does: the socket's
 * constructor asked for a read, the bytes would come only from the next poll), and wraps it in a
 * readable socket that reads into `buffer`, public API from there on: net.Socket's
 * `onread: { buffer, callback }` gives `callback(nread, buffer)` for every read, into the same
 * buffer each time; `pause()`/`resume()` stop and start the reading. Nothing is read until the
 * new socket is resumed (`manualStart`), so no read comes before the callback has somewhere to
 * send it. The old socket, without a handle, is destroyed (it only emits 'close'). `writable`:
 * the new socket is written to as well (a terminal's socket carries its input too).
 * test/spawner/handover.test.ts fails if any of this changes.
 */
export function readIntoBuffer (socket, buffer, callback, writable = false) {
  const handle = takeHandle(socket)
  socket.destroy()
  return new Socket({ handle, readable: true, writable, manualStart: true, onread: { buffer, callback } })
}

/** The socket's handle, not read and no longer the socket's. */
function takeHandle (socket) {
  const handle = socket._handle
  handle.readStop()
  handle.reading = false
  socket._handle = null
  return handle
}
