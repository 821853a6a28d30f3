// The spawner process, forked by SpawnerPool (pool.ts) with an IPC channel: starts programs with
// execa on request and hands their stdio pipes back over the channel, then the pid, later the
// exit status; a terminal program runs on a pseudo-terminal whose bytes the spawner relays through
// a socket it hands over the same way (terminal.mjs). When the channel closes (the server ended,
// SIGKILL included), every program's process group (every group of a terminal's session) gets
// SIGTERM, SIGKILL after its killGrace, and the spawner exits once they are gone.
//
// Plain JavaScript on purpose: the spawner boots with no TypeScript loader in any setting (0.1 s
// instead of seconds under the test runner's), and imports nothing but execa (and node-pty, on its
// first terminal). The message shapes are protocol.ts's; the execa options are session/launch.ts's:
// keep them in step. The spawner is forked with --expose-gc (see collector.mjs).
import { closeSync, openSync } from 'node:fs'
import { execa } from 'execa'
import { collectEvery, STARTS_PER_COLLECTION } from './collector.mjs'
import { detachPipe, releaseSockets } from './handover.mjs'
import { signalSession } from './session-groups.mjs'
import { openTerminal } from './terminal.mjs'

/** How often a terminating group is checked for survivors, in ms (as process-group.ts). */
const GROUP_POLL_MS = 25

/** Descriptors one start takes here (as session/descriptors.ts): three pipes, two ends each, and libuv's exec-error pipe. */
const PER_START = 8

/**
 * Live programs and those whose group may still hold processes: request id → { pid, killGraceMs,
 * terminal } (a terminal program's signals reach every process group of its terminal's session).
 */
const groups = new Map()

/** Live terminals: request id → what resizes them. */
const terminals = new Map()

/** Sends `signal` to the process group `pid` (every group of its session for a terminal); false when none of it is left. */
function signalGroup ({ pid, terminal }, signal) {
  if (terminal) return signalSession(pid, signal)
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false
  }
}

/** The error (EMFILE, ENFILE) when this process cannot open the descriptors of a start (execa would throw on a child without stdio). */
function descriptorShortage () {
  const opened = []
  let shortage
  try {
    while (opened.length < PER_START) opened.push(openSync('/dev/null', 'r'))
  } catch (err) {
    shortage = err
  }
  for (const fd of opened) closeSync(fd)
  return shortage
}

/** Called after each start: a full collection every few starts keeps the heap from growing with their garbage. */
const started = collectEvery(STARTS_PER_COLLECTION, globalThis.gc)

function reply (message, handle) {
  // The channel may close at any time: a reply to a gone server is dropped. A server that died
  // before this process saw its channel close fails the write (EPIPE): it is gone all the same,
  // and an unhandled error would end this process with its programs still running.
  if (process.connected) process.send(message, handle, (err) => { if (err) orphaned() })
}

function start (id, spec) {
  let subprocess
  try {
    const shortage = descriptorShortage()
    if (shortage !== undefined) throw shortage
    subprocess = execa(spec.file, spec.args, {
      argv0: spec.argv0,
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      env: spec.env,
      extendEnv: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: spec.stderr ? 'pipe' : 'ignore',
      buffer: false,
      reject: false,
      detached: true,
      cleanup: false,
      stripFinalNewline: false
    })
  } catch (err) {
    // Out of descriptors, invalid arguments (execa's TypeError for a NUL byte has no code), E2BIG…
    reply({ t: 'failed', id, code: err.code ?? 'ERR_INVALID_ARG_VALUE', message: err.message })
    return
  }
  const pid = subprocess.pid
  if (pid === undefined) {
    // ENOENT, EACCES, EAGAIN…: execa's result names the error (reject: false never rejects).
    subprocess.then((result) => reply({ t: 'failed', id, code: String(result.code), message: String(result.shortMessage) }))
    return
  }
  const killGraceMs = spec.killGraceMs
  groups.set(id, { pid, killGraceMs, terminal: false })
  // Every pipe leaves its socket now, unread: whenever the program exits, nothing here can read
  // or close a pipe that waits for its turn (see handover.mjs). The handles, then `started`,
  // then `exit` go out in this order.
  const pipes = [subprocess.stdin, subprocess.stdout, subprocess.stderr]
  pipes.forEach((pipe, fd) => {
    if (pipe !== null) reply({ t: 'stdio', id, fd }, detachPipe(pipe))
  })
  reply({ t: 'started', id, pid })
  // execa stops watching the old sockets now (see handover.mjs): only the exit status is wanted.
  releaseSockets(pipes)
  // The listener keeps nothing of the start but its id and killGrace (not the spec with its environment).
  subprocess.once('exit', (code, signal) => {
    // The server ends the group's background processes now, within killGrace; should it die
    // meanwhile, they are still the spawner's to end.
    setTimeout(() => groups.delete(id), killGraceMs + 4 * GROUP_POLL_MS).unref()
    reply({ t: 'exit', id, code, signal })
  })
}

/** Starts a program on a terminal: the relay's socket, then `started`, later `exit`, as {@link start}'s pipes. */
function startTerminal (id, spec) {
  const shortage = descriptorShortage()
  if (shortage !== undefined) return reply({ t: 'failed', id, code: shortage.code, message: shortage.message })
  openTerminal(spec).then(({ pid, socket, resize, exited }) => {
    const killGraceMs = spec.killGraceMs
    groups.set(id, { pid, killGraceMs, terminal: true })
    terminals.set(id, resize)
    reply({ t: 'terminal', id }, socket)
    reply({ t: 'started', id, pid })
    exited.then(({ code, signal }) => {
      terminals.delete(id)
      setTimeout(() => groups.delete(id), killGraceMs + 4 * GROUP_POLL_MS).unref()
      reply({ t: 'exit', id, code, signal })
    })
  /* c8 ignore next -- the terminal cannot be opened only when the system runs out of descriptors, terminals or processes after the check above */
  }, (err) => reply({ t: 'failed', id, code: err.code ?? 'EPTY', message: err.message }))
}

/** How often the channel is checked, in ms (see below). */
const CHANNEL_POLL_MS = 100

let orphanedAt

/** The server is gone: SIGTERM to every group, SIGKILL to what is left after its killGrace, then exit. */
function orphaned () {
  if (orphanedAt !== undefined) return
  const started = orphanedAt = Date.now()
  for (const group of groups.values()) signalGroup(group, 'SIGTERM')
  const check = () => {
    for (const [id, group] of groups) {
      if (!signalGroup(group, 0)) groups.delete(id)
      else if (Date.now() - started >= group.killGraceMs) signalGroup(group, 'SIGKILL')
    }
    if (groups.size === 0) process.exit(0)
    setTimeout(check, GROUP_POLL_MS)
  }
  check()
}

// Ctrl-C in a terminal and `kill -TERM -<pgid>` reach the whole process group: the server decides
// (drain, then close), and the spawner ends when its channel closes.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
process.on('message', (message) => {
  if (message.t === 'resize') return terminals.get(message.id)?.(message.cols, message.rows)
  if (message.spec.terminal === undefined) start(message.id, message.spec)
  else startTerminal(message.id, message.spec)
  started()
})
process.once('disconnect', orphaned)
// Node postpones 'disconnect' until every handle sent has been acknowledged: a server that closed
// (or died) with a pipe in flight never acknowledges it, so the channel is also watched here.
setInterval(() => { if (!process.connected) orphaned() }, CHANNEL_POLL_MS)
reply({ t: 'ready' })
