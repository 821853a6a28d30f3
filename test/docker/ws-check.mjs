// WebSocket sessions through a running wsexec (used by .ci/container-check.sh with
// test/docker/routes.yaml). Prints one "ok - …" or "not ok - …" line per check; exits 1 on failure.
//   node test/docker/ws-check.mjs ws://127.0.0.1:PORT            the checks below
//   node test/docker/ws-check.mjs ws://127.0.0.1:PORT --hold /echo
//        opens one session, prints "open", then "close CODE" when the server ends it
import { once } from 'node:events'
import WebSocket from 'ws'

const TIMEOUT_MS = 5000
const [base, flag, holdPath] = process.argv.slice(2)
if (base === undefined || !/^wss?:\/\//.test(base)) {
  console.error('usage: ws-check.mjs ws://HOST:PORT [--hold PATH]')
  process.exit(2)
}

/**
 * One session: sends `send` once open, closes (1000) after `closeAfter` messages, and resolves
 * with the messages and the close code once the socket closes (rejects after TIMEOUT_MS).
 */
async function session (path, { send = [], closeAfter = Infinity } = {}) {
  const ws = new WebSocket(base + path)
  const messages = []
  // listeners before 'open', so that no early message is lost
  ws.on('message', (data) => {
    messages.push(data.toString())
    if (messages.length >= closeAfter) ws.close(1000)
  })
  ws.on('open', () => { for (const m of send) ws.send(m) })
  try {
    const [code] = await once(ws, 'close', { signal: AbortSignal.timeout(TIMEOUT_MS) })
    return { messages, code }
  } finally {
    ws.terminate()
  }
}

const checks = [
  ['/echo returns the line sent', () => session('/echo', { send: ['hello'], closeAfter: 1 }),
    (r) => r.messages[0] === 'hello'],
  ['/count/3 streams 1 2 3 and closes 1000 (exit 0)', () => session('/count/3'),
    (r) => r.messages.join(',') === '1,2,3' && r.code === 1000],
  ['/bc computes 6*7', () => session('/bc', { send: ['6*7'], closeAfter: 1 }),
    (r) => r.messages[0] === '42'],
  ['/exit3 closes 4003 (exit status 3)', () => session('/exit3'),
    (r) => r.code === 4003],
  ['/orphan leaves a background child and closes 1000', () => session('/orphan'),
    (r) => r.messages[0] === 'started' && r.code === 1000],
  ['/tty runs on a pseudo-terminal of the size asked for', () => session('/tty?cols=100&rows=30'),
    (r) => /^\/dev\/pts\/[0-9]+\r\n30 100\r\n$/.test(r.messages.join('')) && r.code === 1000]
]

if (flag === '--hold') {
  const ws = new WebSocket(base + (holdPath ?? '/echo'))
  ws.on('open', () => console.log('open'))
  // no deadline here: the caller bounds this process with timeout(1)
  const [code] = await once(ws, 'close')
  console.log(`close ${code}`)
} else {
  let failed = 0
  for (const [name, run, accept] of checks) {
    try {
      const result = await run()
      if (accept(result)) {
        console.log(`ok - ${name}`)
      } else {
        failed++
        console.log(`not ok - ${name}: got ${JSON.stringify(result)}`)
      }
    } catch (err) {
      failed++
      console.log(`not ok - ${name}: ${err.message}`)
    }
  }
  process.exitCode = failed === 0 ? 0 : 1
}
