import { fork, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import t from 'tap'
import { execa } from 'execa'
import { canReadIntoBuffer, detachPipe, readIntoBuffer, releaseSockets } from '../../src/spawner/handover.mjs'
import { DEADLINE_MS } from '../helpers/client.js'
import { fixture } from '../helpers/server.js'

// The Node internals the spawner's hand-over relies on (see handover.mjs): a child's stdout
// socket has a `_handle` with `readStop()`; without its handle, destroying the old socket leaves
// the pipe open; `new Socket({ handle, manualStart })` wraps it unread; a handle sent with
// `send(m, socket)` carries every byte not read before it. This fails if Node changes any of it.
t.test('a detached pipe, its old socket destroyed, handed over to another process loses no byte', async (t) => {
  const program = spawn('printf', ['%s', 'every byte'], { stdio: ['ignore', 'pipe', 'ignore'] })
  const stdout = program.stdout as Socket
  t.type((stdout as unknown as { _handle: { readStop: unknown } })._handle.readStop, 'function', 'the socket has _handle.readStop')
  const pipe = detachPipe(stdout)
  t.equal((stdout as unknown as { _handle: unknown })._handle, null, 'the old socket holds no handle')
  // The program has written and exited, and Node has done what it does to its stdio then.
  await once(program, 'exit', { signal: AbortSignal.timeout(DEADLINE_MS) })
  stdout.destroy()
  const receiver = fork(fixture('receive-handle.mjs'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => receiver.kill('SIGKILL'))
  receiver.send('pipe', pipe)
  const [text] = await once(receiver, 'message', { signal: AbortSignal.timeout(DEADLINE_MS) })
  t.equal(text, 'every byte', 'the receiver read all of it')
  t.equal((pipe as unknown as { _handle: unknown })._handle, null, 'the sender no longer holds the handle')
})

// What a spawner does with a program's old sockets once its pipes are detached (see releaseSockets):
// destroyed at once, execa no longer watches them (its listeners are what a running program's
// subprocess held most of), and the program runs on through the detached pipes; execa's result,
// which the spawner never reads, settles at the exit.
t.test('old sockets released after the hand-over: execa stops watching them, the program runs on', async (t) => {
  const subprocess = execa('cat', [], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, detached: true, cleanup: false })
  t.teardown(() => { subprocess.kill('SIGKILL') })
  // A pipe of a child process is a net.Socket (execa's types say Readable or Writable).
  const old = [subprocess.stdin, subprocess.stdout, subprocess.stderr] as unknown as Socket[]
  const [stdin, stdout, stderr] = old.map((pipe) => detachPipe(pipe))
  const watched = (): number[] => old.map((pipe) => pipe.listenerCount('finish') + pipe.listenerCount('error'))
  t.ok(watched().every((n) => n > 0), 'execa watches every old socket')
  // Not events.once: it would reject on the 'error' that stdin's old socket is destroyed with.
  const closed = old.map(async (pipe) => new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(DEADLINE_MS)
    signal.addEventListener('abort', () => reject(signal.reason))
    pipe.once('close', resolve)
  }))
  releaseSockets(old)
  await Promise.all(closed)
  t.same(watched(), [1, 0, 0], 'only the release\'s own error listener is left, on stdin')
  stdout?.setEncoding('utf8')
  const echoed = once(stdout as Socket, 'data', { signal: AbortSignal.timeout(DEADLINE_MS) })
  stdin?.write('still here\n')
  t.same(await echoed, ['still here\n'], 'the program reads and writes through the detached pipes')
  stdin?.end()
  stdout?.resume()
  stderr?.resume()
  const result = await subprocess
  t.equal(result.exitCode, 0, 'the program exited at the end of its input')
  t.equal(result.failed, true, 'execa counts the early end of its stdin socket as a failure (never read by a spawner)')
})

t.test('releaseSockets takes a program without a stderr pipe', async (t) => {
  const subprocess = execa('cat', [], { stdin: 'pipe', stdout: 'pipe', stderr: 'ignore', buffer: false, reject: false, detached: true, cleanup: false })
  t.teardown(() => { subprocess.kill('SIGKILL') })
  const old = [subprocess.stdin, subprocess.stdout, subprocess.stderr] as unknown as Array<Socket | null>
  t.equal(old[2], null, 'no stderr pipe')
  const pipes = old.flatMap((pipe) => pipe === null ? [] : [detachPipe(pipe)])
  releaseSockets(old)
  for (const pipe of pipes) pipe.destroy()
  t.equal((await subprocess).exitCode, 0, 'the program saw the end of its input and exited')
})

// The server's side (see readIntoBuffer in handover.mjs): the socket Node makes for a handle it
// is handed has a `_handle` with `readStop()` and has read nothing when the 'message' comes;
// `onread` sockets give every read in the one buffer, from `resume()` on, then 'end' and 'close'.
t.test('a pipe the server is handed is read into one buffer: every byte, none read before', async (t) => {
  // 48,894 bytes: all in the pipe before the hand-over.
  const want = spawnSync('seq', ['1', '10000']).stdout
  const sender = fork(fixture('send-pipe.mjs'), ['10000'], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => sender.kill('SIGKILL'))
  const buffer = Buffer.alloc(4096)
  const reads: Buffer[] = []
  let others = 0
  const handed = new Promise<Socket>((resolve) => {
    sender.once('message', (_message, socket: Socket) => {
      t.ok(canReadIntoBuffer(socket), 'the socket has _handle.readStop')
      resolve(readIntoBuffer(socket, buffer, (nread, buf) => {
        if (buf !== buffer) others++
        reads.push(Buffer.from(buf.subarray(0, nread)))
        return undefined
      }))
    })
  })
  const pipe = await handed
  const closed = once(pipe, 'close', { signal: AbortSignal.timeout(DEADLINE_MS) })
  const ended = once(pipe, 'end', { signal: AbortSignal.timeout(DEADLINE_MS) })
  pipe.resume()
  await ended
  await closed
  t.equal(others, 0, 'every read was into the one buffer')
  t.ok(reads.length > 1, `in several reads (${reads.length})`)
  t.ok(Buffer.concat(reads).equals(want), 'every byte, in order')
})
