import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'
import { connectMain, MAX_ERROR_BODY_BYTES } from '../../src/cli/connect.js'
import { errorBodyLine } from '../../src/cli/connect-link.js'
import { escapeControls } from '../../src/cli/escape.js'
import { DEADLINE_MS } from '../helpers/client.js'

interface Result { code: number, stdout: string, stderr: string }

/** Runs `wsexec connect` in this process without stdin (end of input at once). */
async function connectTo (argv: string[]): Promise<Result> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await connectMain(argv, { stdout, stderr })
  return { code, stdout: out, stderr: err }
}

// OSC 52 (writes the clipboard), OSC 0 (the window title), clear screen, and a C1 CSI.
const HOSTILE = '\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[2J\u009b31m'
const SHOWN = '\\x1b]52;c;cHduZWQ=\\x07\\x1b]0;owned\\x07\\x1b[2J\\u009b31m'

t.test('escapeControls: C0 (but tab), DEL and C1 as visible escapes; other text as it is', async (t) => {
  t.equal(escapeControls(HOSTILE), SHOWN)
  t.equal(escapeControls('a\tb\nc\r\x00\x7f\u0080\u009f\u00a0é ✓'), 'a\tb\\x0ac\\x0d\\x00\\x7f\\u0080\\u009f\u00a0é ✓')
  t.equal(escapeControls('plain text'), 'plain text')
})

t.test('an error body\'s first line: its JSON message, or the text', async (t) => {
  t.equal(errorBodyLine('{"statusCode":403,"message":"Forbidden here"}'), 'Forbidden here')
  t.equal(errorBodyLine('{"code":7}'), '{"code":7}')
  t.equal(errorBodyLine('null'), 'null')
  t.equal(errorBodyLine('first\r\nsecond\nthird'), 'first')
  t.equal(errorBodyLine(''), '')
})

/** A raw TCP server of the test's own: `answer` gets each socket once its request head is in. */
async function rawServer (t: Test, answer: (socket: Socket) => void): Promise<string> {
  const server: Server = createServer((socket) => {
    let head = ''
    const onData = (d: Buffer): void => {
      head += d.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      answer(socket)
    }
    socket.on('data', onData)
    socket.on('error', () => {})
  })
  t.teardown(() => { server.close() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `ws://127.0.0.1:${(server.address() as { port: number }).port}/x`
}

t.test('a refusal with an endless body: the first KiB are read, one line printed, escaped', async (t) => {
  const TOTAL = 64 * 1024 * 1024
  let written = 0
  let finished = false
  let gone!: () => void
  const serverSawClose = new Promise<void>((resolve) => { gone = resolve })
  const url = await rawServer(t, (socket) => {
    socket.write('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n')
    socket.write(`denied ${HOSTILE}\nsecond line\n`)
    const chunk = Buffer.alloc(64 * 1024, 'A')
    // Written as the client reads (backpressure): what the kernel buffers, never all of it.
    const more = (): void => {
      while (written < TOTAL) {
        written += chunk.length
        if (!socket.write(chunk)) return
      }
      finished = true
      socket.end()
    }
    socket.on('drain', more)
    socket.once('close', gone)
    more()
  })
  const r = await connectTo([url])
  await serverSawClose
  t.same(r, { code: 255, stdout: '', stderr: `wsexec connect: cannot connect to ${url}: 400 denied ${SHOWN}\n` })
  t.notOk(finished, 'the client stopped reading: the body was never sent to its end')
  t.ok(written < TOTAL, `${written} of ${TOTAL} bytes sent`)
})

t.test('a long first line is cut at the bound; a JSON message with escapes; a body cut short', async (t) => {
  const long = await rawServer(t, (socket) => {
    socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Length: 10000\r\n\r\n${'x'.repeat(10000)}`)
  })
  const cut = await connectTo([long])
  t.equal(cut.stderr, `wsexec connect: cannot connect to ${long}: 403 ${'x'.repeat(MAX_ERROR_BODY_BYTES)}\n`)
  const json = await rawServer(t, (socket) => {
    const body = JSON.stringify({ statusCode: 401, message: `no ${HOSTILE}\nmore` })
    socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  })
  t.same(await connectTo([json]), { code: 255, stdout: '', stderr: `wsexec connect: cannot connect to ${json}: 401 no ${SHOWN}\n` },
    'the message\'s first line only')
  const reset = await rawServer(t, (socket) => {
    socket.write(`HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\nbroken ${HOSTILE}`, () => socket.resetAndDestroy())
  })
  const r = await connectTo([reset])
  t.equal(r.code, 255)
  t.match(r.stderr, new RegExp(`^wsexec connect: cannot connect to ${reset.replaceAll('/', '\\/')}: 500 broken `))
  t.notOk(r.stderr.includes('\x1b'), 'nothing raw')
})

/** A WebSocket server of the test's own that does `onSession` with each client. */
async function wsServer (t: Test, onSession: (ws: WebSocket) => void, protocol = false): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => protocol ? [...protocols][0] ?? false : false })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  await once(wss, 'listening', { signal: AbortSignal.timeout(DEADLINE_MS) })
  wss.on('connection', onSession)
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`
}

t.test('close reasons, statuses and tagged stderr arrive escaped; stdout stays raw', async (t) => {
  const reason = await wsServer(t, (ws) => { ws.close(1001, `bye ${HOSTILE}`) })
  t.same(await connectTo([reason]), { code: 255, stdout: '', stderr: `wsexec connect: connection closed: 1001 bye ${SHOWN}\n` })
  const notStarted = await wsServer(t, (ws) => { ws.close(1011, `spawn failed ${HOSTILE}`) })
  t.same(await connectTo([notStarted]), { code: 127, stdout: '', stderr: `wsexec connect: the program did not start: spawn failed ${SHOWN}\n` })
  const status = await wsServer(t, (ws) => {
    ws.send(Buffer.concat([Buffer.of(3), Buffer.from(`failed ${HOSTILE}`)]))
    ws.close(1000)
  }, true)
  t.same(await connectTo(['--channels', status]), { code: 1, stdout: '', stderr: `wsexec connect: failed ${SHOWN}\n` })
  const tagged = await wsServer(t, (ws) => {
    ws.send(JSON.stringify({ stream: 'stderr', data: `warn\t${HOSTILE}` }))
    ws.send(JSON.stringify({ stream: 'stdout', data: `out ${HOSTILE}` }))
    ws.send(`plain ${HOSTILE}`)
    ws.close(1000)
  })
  t.same(await connectTo([tagged]), { code: 0, stdout: `out ${HOSTILE}\nplain ${HOSTILE}\n`, stderr: `warn\t${SHOWN}\n` },
    'the program\'s stdout raw, as ssh and kubectl print it')
})
