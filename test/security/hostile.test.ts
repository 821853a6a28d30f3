import t from 'tap'
import { connect, until } from '../helpers/client.js'
import { watchFlow } from '../helpers/flow.js'
import { closeCodeOf, frame, rawConnect, rawUpgrade, statusOf, upgradeRequest } from '../helpers/raw.js'
import { stillServes } from '../helpers/security.js'
import { node, startedSessions, startServer } from '../helpers/server.js'

const ECHO = '/echo:\n  command: [cat]\n  closeGrace: 100ms\n  killGrace: 200ms\n'

t.test('malformed handshakes get 400 before any process starts', async (t) => {
  const s = await startServer(t, ECHO)
  const cases: Array<[string, string | Buffer]> = [
    ['bad Sec-WebSocket-Key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'not-a-key' })],
    ['no Sec-WebSocket-Key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': null })],
    ['wrong version', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '12' })],
    ['not a websocket upgrade', upgradeRequest('/echo', { Upgrade: 'h2c' })],
    ['garbage', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a])],
    ['no Host', upgradeRequest('/echo', { Host: null })]
  ]
  for (const [name, request] of cases) {
    const c = await rawConnect(s.port)
    c.socket.write(request)
    await c.closed
    t.equal(statusOf(c.received()), 400, name)
  }
  t.equal(s.logs.filter((r) => r.msg === 'session start').length, 0, 'no session started')
  await stillServes(t, s)
})

t.test('frame abuse closes with 1002, 1007 or 1009 and ends the session', async (t) => {
  const s = await startServer(t, ECHO)
  const cases: Array<[string, Buffer, number]> = [
    ['reserved bit without an extension', frame(0x1, Buffer.from('hi'), { rsv: 4 }), 1002],
    ['reserved opcode', frame(0x3, Buffer.from('hi')), 1002],
    ['unmasked client frame', frame(0x1, Buffer.from('hi'), { mask: false }), 1002],
    ['control frame longer than 125 bytes', frame(0x9, Buffer.alloc(126)), 1002],
    ['fragmented control frame', frame(0x9, Buffer.from('p'), { fin: false }), 1002],
    ['continuation without a start', frame(0x0, Buffer.from('x')), 1002],
    ['invalid UTF-8 text', frame(0x1, Buffer.from([0x61, 0xff, 0xfe])), 1007],
    ['a length claim of 1 TiB', frame(0x2, Buffer.alloc(0), { length: 1n << 40n }), 1009],
    ['a length claim beyond 2^53', frame(0x2, Buffer.alloc(0), { length: (1n << 63n) - 1n }), 1009]
  ]
  const before = process.memoryUsage().arrayBuffers
  for (const [name, bytes, code] of cases) {
    const c = await rawUpgrade(s.port, '/echo')
    c.socket.write(bytes)
    await c.closed
    t.equal(closeCodeOf(c.received()), code, name)
  }
  t.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no length claim was allocated')
  await until(() => s.app.wsexec.sessions.size === 0, 'sessions to end')
  // Sessions end in any order once their programs start in the spawners: the codes are compared as a set.
  t.same(s.logs.filter((r) => r.msg === 'session end').map((r) => r['closeCode'] as number).sort((a, b) => a - b), [1002, 1002, 1002, 1002, 1002, 1002, 1007, 1009, 1009])
  await stillServes(t, s)
})

t.test('a slowloris client is dropped after handshakeTimeout and never gets a process', async (t) => {
  const s = await startServer(t, `handshakeTimeout: 300ms\nroutes:\n  ${ECHO.replace(/\n(?=.)/g, '\n  ')}`)
  const open = connect(`${s.url}/echo`)
  await open.opened
  const started = performance.now()
  const slow = await rawConnect(s.port)
  const silent = await rawConnect(s.port)
  slow.socket.write('GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  // The attack itself: one header line every 50 ms, never the end of the head.
  let n = 0
  const drip = setInterval(() => slow.socket.write(`X-Drip-${n++}: 1\r\n`), 50)
  t.teardown(() => clearInterval(drip))
  await Promise.all([slow.closed, silent.closed])
  clearInterval(drip)
  // Only a lower bound: on a busy machine the drop may come later, never sooner.
  const elapsed = performance.now() - started
  t.ok(elapsed >= 300, `dropped after the handshake timeout (${Math.round(elapsed)} ms)`)
  t.equal(statusOf(slow.received()), 408, 'a slow head gets 408')
  t.equal(statusOf(silent.received()), 408, 'a silent connection gets 408')
  open.ws.send('an open session outlives the handshake timeout')
  t.same(await open.received(1), ['an open session outlives the handshake timeout'])
  open.ws.close()
  await open.closed
  t.equal(await startedSessions(s, 1), 1, 'only the real client got a process')
  await stillServes(t, s)
})

t.test('request heads larger than maxHeaderBytes get 431', async (t) => {
  const s = await startServer(t, `maxHeaderBytes: 2048\nroutes:\n  ${ECHO.replace(/\n(?=.)/g, '\n  ')}`)
  const c = await rawConnect(s.port)
  c.socket.write(upgradeRequest('/echo', { 'X-Big': 'a'.repeat(4096) }))
  await c.closed
  t.equal(statusOf(c.received()), 431)
  await stillServes(t, s)
})

t.test('a program writing 50 MiB without a newline never makes the server hold it', async (t) => {
  const maxLineBytes = 65_536
  const s = await startServer(t, `/flood:\n  command: ${node('no-newline.mjs', '50')}\n  maxLineBytes: ${maxLineBytes}\n${ECHO}`)
  let messages = 0
  let wrongSize = 0
  const c = connect(`${s.url}/flood`)
  // Counted, not kept: the client shares this process's memory with the server.
  c.ws.removeAllListeners('message')
  c.ws.on('message', (data: Buffer) => { messages++; if (data.length !== maxLineBytes) wrongSize++ })
  await c.opened
  const [session] = s.app.wsexec.sessions
  const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
  // The client stops reading: the server must stop reading the program rather than buffer.
  socket.pause()
  const flow = watchFlow(t)
  const held = (await flow.next('output-paused', session?.id)).toClient
  const bound = 256 * 1024 + maxLineBytes + 64 * 1024
  t.ok(held <= bound, `held ${held} bytes, bound ${bound}`)
  const rss = process.memoryUsage().rss
  socket.resume()
  t.same(await c.closed, { code: 1000, reason: 'exit 0' })
  // Seen after every write of frames to the client.
  const most = flow.mostToClient
  t.equal(messages, 50 * 1024 * 1024 / maxLineBytes, 'split into maxLineBytes messages')
  t.equal(wrongSize, 0)
  t.ok(most <= bound, `never more than ${bound} bytes buffered (most ${most})`)
  t.ok(process.memoryUsage().rss - rss < 48 * 1024 * 1024, 'RSS did not grow by the 50 MiB')
  await stillServes(t, s)
})

t.test('shell metacharacters and .. never reach a shell nor escape their pattern', async (t) => {
  const s = await startServer(t, `
/show/:name:
  command: ${node('env.mjs')}
  params: { name: "^[a-z0-9._-]{1,32}$" }
/files/:name:
  command: [printf, "%s\\n", "{name}"]
  params: { name: "^[a-z]+$" }
${ECHO}`)
  const refused = ['/files/..', '/files/..%2F..%2Fetc%2Fpasswd', '/files/%2e%2e', '/files/a;id', '/files/a%20b', '/files/$(id)', '/files/a/../b', '/files/%60id%60']
  for (const path of refused) {
    const c = await rawConnect(s.port)
    c.socket.write(upgradeRequest(path))
    await c.closed
    t.equal(statusOf(c.received()), 404, path)
  }
  const printf = connect(`${s.url}/files/abc?x=$(touch%20/tmp/wsexec-pwned)`)
  t.same(await printf.closed, { code: 1000, reason: 'exit 0' })
  t.same(printf.messages, ['abc'], 'the parameter is one argv element, the query is not an argument')
  const evil = "$(touch /tmp/wsexec-pwned); `id` | rm -rf / && echo '\"'"
  const c = connect(`${s.url}/show/x..y?q=${encodeURIComponent(evil)}&r=;id`, { headers: { 'X-Evil': evil } })
  const env = JSON.parse((await c.received(1))[0] as string) as Record<string, string>
  c.ws.close()
  await c.closed
  t.equal(env['WSEXEC_PARAM_NAME'], 'x..y', 'a parameter is data, matched by its pattern')
  t.equal(env['HTTP_X_EVIL'], evil, 'headers arrive verbatim, never interpreted')
  const query = new URLSearchParams(env['QUERY_STRING'])
  t.same([query.get('q'), query.get('r')], [evil, ';id'], 'the query string arrives verbatim')
  const { existsSync } = await import('node:fs')
  t.notOk(existsSync('/tmp/wsexec-pwned'), 'nothing was executed')
  await stillServes(t, s)
})
