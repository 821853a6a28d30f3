// A spawner's terminals: the program on a pseudo-terminal (node-pty's forkpty, in the spawner),
// and a relay between the terminal and a Unix socket whose other end is handed to the server.
// The terminal itself cannot be handed over: Node's channel sends only sockets and pipes (a tty
// stream fails with EBADF), and a server handed a terminal's descriptor wrapped as a pipe aborts
// (the receiving side asserts the handle type, stream_wrap.cc). Plain JavaScript, as worker.mjs;
// the node-pty options are session/pty.ts's: keep them in step.
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { detachPipe } from './handover.mjs'
import { signalSession } from './session-groups.mjs'

/** How often input the terminal had no room for is offered again, in ms (only while the program does not read it). */
const INPUT_RETRY_MS = 10

/** node-pty, loaded by the spawner's first terminal (a spawner that starts only pipes never maps its native addon). */
let nodePty
function loadNodePty () {
  nodePty ??= createRequire(import.meta.url)('@lydell/node-pty')
  return nodePty
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]))

/**
 * Two connected Unix stream sockets: the one the spawner keeps (half-open allowed: the server's end
 * of input is a hang-up, not the end of the output) and the one for the server, never read here
 * (`pauseOnCreate`). They meet on a socket file in a fresh directory only this user can enter,
 * which is gone again before this returns; Node has no socketpair().
 */
async function socketPair () {
  const dir = mkdtempSync(join(tmpdir(), 'wsexec-tty-'))
  const server = createServer({ pauseOnCreate: true })
  try {
    const path = join(dir, 's')
    server.listen(path)
    await once(server, 'listening')
    const accepted = once(server, 'connection')
    const kept = connect({ path, allowHalfOpen: true })
    try {
      const [[handed]] = await Promise.all([accepted, once(kept, 'connect')])
      return { kept, handed }
    /* c8 ignore next 4 -- a connect or accept that fails (ENFILE) right after the start's descriptor check passed: no test can run the system out of descriptors between the two */
    } catch (err) {
      kept.destroy()
      throw err
    }
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Starts `spec`'s program on a terminal of `spec.terminal`'s size and relays it: returns its pid,
 * the socket to hand to the server (unread), `resize(cols, rows)`, and `exited`, which settles
 * with `{ code, signal }` once the program exited and its output is all written to the socket
 * (or the server's end is gone). Rejects when the terminal cannot be opened (out of descriptors,
 * terminals or processes).
 */
export async function openTerminal (spec) {
  const { kept, handed } = await socketPair()
  let pty
  try {
    pty = loadNodePty().spawn(spec.file, spec.args, {
      name: spec.terminal.term,
      cols: spec.terminal.cols,
      rows: spec.terminal.rows,
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      env: spec.env,
      encoding: null
    })
  /* c8 ignore next 5 -- node-pty throws only when forkpty(3) fails: the system is out of terminals or processes */
  } catch (err) {
    kept.destroy()
    handed.destroy()
    throw Object.assign(err, { code: err.code ?? 'EPTY' })
  }
  const state = { exited: false }
  return {
    pid: pty.pid,
    socket: detachPipe(handed),
    resize: (cols, rows) => { if (!state.exited) pty.resize(cols, rows) },
    exited: relay(pty, kept, state)
  }
}

/**
 * Moves the terminal's output to `socket` and `socket`'s input to the terminal, each direction
 * paused while the other side holds too much: a server that stops reading stops the program, a
 * program that stops reading its terminal stops the server's input (the spawner holds at most one
 * read of it). The input's end hangs the
 * terminal up (SIGHUP to every process group of its session), as closing a terminal window does.
 */
function relay (pty, socket, state) {
  let open = true
  pty.onData((chunk) => {
    if (open && !socket.write(chunk)) pty.pause()
  })
  socket.on('drain', () => pty.resume())
  socket.on('data', terminalInput(pty, socket))
  socket.on('end', () => { if (!state.exited) signalSession(pty.pid, 'SIGHUP') })
  // EPIPE, ECONNRESET: the server's end is gone; 'close' follows.
  socket.on('error', () => {})
  // Nobody reads the output any more: it is read and dropped, so the program is never stuck writing.
  socket.once('close', () => {
    open = false
    pty.resume()
  })
  return new Promise((resolve) => {
    // node-pty reports the exit once the terminal's output is all read (or the terminal is closed).
    pty.onExit(({ exitCode, signal }) => {
      state.exited = true
      // 0 (no signal) has no name.
      const name = signalNames.get(signal)
      const status = { code: name === undefined ? exitCode : null, signal: name ?? null }
      /* c8 ignore next -- the server's end closed first (the server died, or ended the session before the exit): no test orders the spawner's events so (a spawner whose server died usually exits before node-pty reports the exit) */
      if (!open) return resolve(status)
      socket.once('close', () => resolve(status))
      socket.end(() => resolve(status))
    })
  })
}

/**
 * What writes the server's input to the terminal. Not node-pty's `write()`: its socket writes to
 * the terminal with libuv's blocking writes (a terminal's master side cannot be reopened
 * non-blocking), which spin on EAGAIN, holding the spawner's event loop for as long as the
 * program does not read its input. Here a chunk the terminal has no room for waits, with the
 * server's socket paused, and is offered again every {@link INPUT_RETRY_MS} until it is taken.
 * Nothing is written once node-pty's socket on the terminal is destroyed (private: its
 * descriptor is closed then, and the number may be reused).
 */
function terminalInput (pty, socket) {
  const tty = pty._socket
  let waiting
  /** Writes what waits; true once nothing does (all taken, or the terminal gone with it). */
  const written = () => {
    while (waiting !== undefined && !tty.destroyed) {
      let n
      try {
        n = writeSync(pty.fd, waiting)
      } catch (err) {
        if (err.code === 'EAGAIN') return false
        /* c8 ignore next 2 -- EIO: the program's side of the terminal closed between the exit and node-pty's socket noticing it */
        break
      }
      waiting = n < waiting.length ? waiting.subarray(n) : undefined
    }
    waiting = undefined
    return true
  }
  const retry = () => {
    if (written()) socket.resume()
    else setTimeout(retry, INPUT_RETRY_MS)
  }
  return (chunk) => {
    waiting = chunk
    if (written()) return
    socket.pause()
    setTimeout(retry, INPUT_RETRY_MS)
  }
}
