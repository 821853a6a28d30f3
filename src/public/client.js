// wsexec browser client, served at /_wsexec/client.js. A plain ES module: no build step.
//
//   import { open } from '/_wsexec/client.js'
//   const session = await open('/count/:n', { params: { n: 5 } })
//   for await (const line of session) console.log(line)
//   const { exitCode, text } = await session.closed
//
// It uses WebSocketStream where the browser has it, so a page that reads slowly holds the
// program back (backpressure reaches the process), and WebSocket elsewhere.

/** Close codes wsexec sends (see the README's "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  EXIT_BASE: 4000,
  SIGNAL_BASE: 4128
})

/** Bytes the WebSocket fallback lets wait in `bufferedAmount` before `send()` waits. */
export const SEND_HIGH_WATER_BYTES = 64 * 1024

const SEND_POLL_MS = 10

/**
 * What a close code and reason say about the program: `{ code, reason, exitCode, signal,
 * spawnError, ok, text }`. `exitCode` is a number when the program exited, `signal` a name
 * such as `SIGKILL` when it was killed; `text` says it in words.
 */
export function describeClose (code, reason = '') {
  const ending = { code, reason, exitCode: null, signal: null, spawnError: null, ok: false, text: '' }
  // The reason tells 'exit 129' from 'signal SIGHUP', which share the code 4129.
  const exit = /^exit (\d+)$/.exec(reason)
  const signal = /^signal (\w+)$/.exec(reason)
  const spawn = /^spawn failed: (\w+)$/.exec(reason)
  if (exit !== null && code === (Number(exit[1]) === 0 ? CloseCode.NORMAL : CloseCode.EXIT_BASE + (Number(exit[1]) & 0xff))) {
    ending.exitCode = Number(exit[1])
  } else if (signal !== null && code > CloseCode.SIGNAL_BASE && code < CloseCode.SIGNAL_BASE + 128) {
    ending.signal = signal[1]
  } else if (code > CloseCode.EXIT_BASE && code < CloseCode.SIGNAL_BASE) {
    ending.exitCode = code - CloseCode.EXIT_BASE
  } else if (code === CloseCode.INTERNAL_ERROR && spawn !== null) {
    ending.spawnError = spawn[1]
  }
  ending.ok = ending.exitCode === 0
  ending.text = words(ending)
  return ending
}

function words (e) {
  if (e.exitCode === 0) return 'the program exited successfully (status 0)'
  if (e.exitCode !== null) return `the program failed with exit status ${e.exitCode}`
  if (e.signal !== null) return `the program was killed by ${e.signal} (signal ${e.code - CloseCode.SIGNAL_BASE})`
  if (e.spawnError !== null) return `the program could not be started (${e.spawnError})`
  switch (e.code) {
    case CloseCode.NORMAL: return 'the session was closed normally'
    case CloseCode.GOING_AWAY: return 'the server is shutting down'
    case CloseCode.ABNORMAL: return 'the connection was lost without a close frame'
    case CloseCode.PROTOCOL_ERROR:
    case CloseCode.INVALID_PAYLOAD:
    case CloseCode.MESSAGE_TOO_BIG: return `the server refused a message: ${e.reason}`
    case CloseCode.INTERNAL_ERROR: return `the session failed in the server: ${e.reason}`
    default: return `closed with code ${e.code}${e.reason === '' ? '' : `: ${e.reason}`}`
  }
}

/**
 * The ws:// or wss:// URL of a route. `path` is a route path such as `/count/:n` (each `:name`
 * is replaced by `params[name]`, percent-encoded) or a full URL; `query` is a string, an object
 * or URLSearchParams. Paths resolve against the wsexec server this module came from.
 */
export function routeUrl (path, { params = {}, query, base = new URL('../', import.meta.url) } = {}) {
  let url
  if (/^(wss?|https?):/.test(path)) {
    url = new URL(path)
  } else {
    const filled = path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name) => {
      if (params[name] === undefined) throw new TypeError(`missing value for the path parameter :${name} of ${path}`)
      return encodeURIComponent(String(params[name]))
    })
    // Relative to the server's root, so a wsexec behind a proxy under a sub-path still works.
    url = new URL(filled.replace(/^\//, ''), base)
  }
  if (query !== undefined && query !== '') url.search = new URLSearchParams(query).toString()
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:'
  return url
}

/**
 * Opens a session to a route and resolves once connected (rejects when the server refuses
 * it). Options: `params`, `query`, `base` (see {@link routeUrl}), `signal` (aborting closes
 * the session), `transport` (`'auto'`, `'websocketstream'` or `'websocket'`).
 */
export async function open (path, options = {}) {
  const url = routeUrl(path, options)
  const transport = options.transport ?? 'auto'
  const stream = transport === 'websocketstream' || (transport === 'auto' && typeof globalThis.WebSocketStream === 'function')
  const session = stream ? await openStream(url, options.signal) : await openSocket(url, options.signal)
  return session
}

/** One session on WebSocketStream: reading is pulled, so an idle reader stops the socket. */
async function openStream (url, signal) {
  const wss = new globalThis.WebSocketStream(url.href, signal === undefined ? {} : { signal })
  let connection
  try {
    connection = await wss.opened
  } catch {
    throw new Error(`cannot open ${url.href}: refused or unreachable`)
  }
  const reader = connection.readable.getReader()
  const writer = connection.writable.getWriter()
  let draining = null
  const closed = wss.closed.then(
    ({ closeCode, reason }) => describeClose(closeCode ?? CloseCode.ABNORMAL, reason ?? ''),
    (err) => describeClose(err?.closeCode ?? CloseCode.ABNORMAL, err?.reason ?? ''))
  return {
    transport: 'websocketstream',
    url,
    closed,
    async * [Symbol.asyncIterator] () {
      while (true) {
        let result
        try {
          result = await reader.read()
        } catch {
          return
        }
        if (result.done) return
        yield result.value instanceof ArrayBuffer ? new Uint8Array(result.value) : result.value
      }
    },
    async send (data) {
      await writer.ready
      await writer.write(data)
    },
    /** Ends the program's input (an empty binary message); its output and exit status still arrive. */
    async end () {
      await writer.ready
      await writer.write(new Uint8Array(0))
    },
    close (reason = '') {
      wss.close({ closeCode: CloseCode.NORMAL, reason })
      // The server's close frame comes after the messages not read yet: read and drop them.
      draining ??= (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {}
      })()
    }
  }
}

/** One session on WebSocket: messages are queued as they come; sending waits for the buffer. */
async function openSocket (url, signal) {
  const ws = new WebSocket(url.href)
  ws.binaryType = 'arraybuffer'
  const queue = []
  let wake = () => {}
  let ended = false
  let resolveClosed
  const closed = new Promise((resolve) => { resolveClosed = resolve })
  ws.addEventListener('message', (event) => {
    queue.push(typeof event.data === 'string' ? event.data : new Uint8Array(event.data))
    wake()
  })
  ws.addEventListener('close', (event) => {
    ended = true
    resolveClosed(describeClose(event.code, event.reason))
    wake()
  })
  signal?.addEventListener('abort', () => ws.close(CloseCode.NORMAL), { once: true })
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true })
    ws.addEventListener('error', () => reject(new Error(`cannot open ${url.href}: refused or unreachable`)), { once: true })
  })
  return {
    transport: 'websocket',
    url,
    closed,
    async * [Symbol.asyncIterator] () {
      while (true) {
        if (queue.length > 0) {
          yield queue.shift()
          continue
        }
        if (ended) return
        await new Promise((resolve) => { wake = resolve })
      }
    },
    async send (data) {
      if (ws.readyState !== WebSocket.OPEN) throw new Error('the session is closed')
      ws.send(data)
      while (ws.bufferedAmount > SEND_HIGH_WATER_BYTES && ws.readyState === WebSocket.OPEN) {
        await new Promise((resolve) => setTimeout(resolve, SEND_POLL_MS))
      }
    },
    /** Ends the program's input (an empty binary message); its output and exit status still arrive. */
    async end () {
      if (ws.readyState !== WebSocket.OPEN) throw new Error('the session is closed')
      ws.send(new Uint8Array(0))
    },
    close (reason = '') {
      ws.close(CloseCode.NORMAL, reason)
    }
  }
}
