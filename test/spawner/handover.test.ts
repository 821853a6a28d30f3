import { fork, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import t from 'tap'
import { canReadIntoBuffer, detachPipe, readIntoBuffer } from '../../src/spawner/handover.mjs'
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
