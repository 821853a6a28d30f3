import { CloseCode } from './close-codes.js'
import type { Config, Route } from './config/load.js'
import { VERSION } from './version.js'

/** Where clients reach the server, for the document's `servers` entry. */
export interface AsyncApiServer {
  /** `host:port` as clients address it. */
  readonly host: string
  /** True over TLS: the protocol is then `wss`. */
  readonly secure: boolean
}

/** A JSON value of the document. */
type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** The close codes every route can end with, as published in each channel's `x-close-codes`. */
export const CLOSE_CODES: ReadonlyArray<{ code: string, reason: string, meaning: string }> = Object.freeze([
  { code: String(CloseCode.NORMAL), reason: 'exit 0', meaning: 'the program exited with status 0' },
  { code: `${CloseCode.EXIT_BASE}+N`, reason: 'exit N', meaning: 'the program exited with status N (1-255)' },
  { code: `${CloseCode.SIGNAL_BASE}+N`, reason: 'signal SIGNAME', meaning: 'the program was killed by signal N' },
  { code: String(CloseCode.INTERNAL_ERROR), reason: 'spawn failed: CODE', meaning: 'the program could not be started' },
  { code: String(CloseCode.GOING_AWAY), reason: 'server shutting down', meaning: 'the server is stopping; the program is terminated' },
  { code: String(CloseCode.PROTOCOL_ERROR), reason: 'the ws error', meaning: 'the client broke the WebSocket protocol' },
  { code: String(CloseCode.INVALID_PAYLOAD), reason: 'the ws error', meaning: 'a text message was not valid UTF-8' },
  { code: String(CloseCode.MESSAGE_TOO_BIG), reason: 'the ws error', meaning: 'a message was larger than 1 MiB' }
].map((c) => Object.freeze(c)))

/** Reusable messages: one per framing and direction. */
const MESSAGES: Record<string, Json> = {
  outputLine: {
    name: 'outputLine',
    title: 'Output line',
    summary: 'One line of the program\'s stdout (or merged stderr), without its newline, as a text message.',
    contentType: 'text/plain',
    payload: { type: 'string' }
  },
  taggedLine: {
    name: 'taggedLine',
    title: 'Tagged output line',
    summary: 'One line of stdout or stderr, tagged with its stream, as a JSON text message.',
    contentType: 'application/json',
    payload: {
      type: 'object',
      required: ['stream', 'data'],
      additionalProperties: false,
      properties: { stream: { type: 'string', enum: ['stdout', 'stderr'] }, data: { type: 'string' } }
    }
  },
  inputLine: {
    name: 'inputLine',
    title: 'Input line',
    summary: 'A text message is written to stdin followed by a newline; a binary message is written as is.',
    contentType: 'text/plain',
    payload: { type: 'string' }
  },
  outputChunk: {
    name: 'outputChunk',
    title: 'Output chunk',
    summary: 'Bytes of the program\'s stdout as they come, as a binary message.',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' }
  },
  inputChunk: {
    name: 'inputChunk',
    title: 'Input chunk',
    summary: 'A message (text or binary) written to stdin as is.',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' }
  },
  endOfInput: {
    name: 'endOfInput',
    title: 'End of input',
    summary: 'An empty binary message: the program\'s stdin is ended (on a tty route: Ctrl-D is typed); the session stays open for its output and exit status.',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary', maxLength: 0 }
  },
  terminalOutput: {
    name: 'terminalOutput',
    title: 'Terminal output',
    summary: 'What the terminal shows (stdout and stderr merged, with its echo) as it comes: raw bytes in a binary message, or a text message that is always valid UTF-8 (mode: text).',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' }
  },
  terminalInput: {
    name: 'terminalInput',
    title: 'Keystrokes',
    summary: 'A message written to the terminal as it is (no newline added; Enter is \\r).',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' }
  },
  resize: {
    name: 'resize',
    title: 'Terminal resize',
    summary: 'A text message that is a JSON object with a resize member sets the terminal size; the program gets SIGWINCH (ttyControl: json). An invalid size is ignored.',
    contentType: 'application/json',
    payload: {
      type: 'object',
      required: ['resize'],
      properties: {
        resize: {
          type: 'object',
          required: ['cols', 'rows'],
          properties: { cols: { type: 'integer', minimum: 1, maximum: 65535 }, rows: { type: 'integer', minimum: 1, maximum: 65535 } }
        }
      }
    }
  },
  channelInput: {
    name: 'channelInput',
    title: 'Channel message from the client',
    summary: 'Kubernetes exec channels: a binary message [channel][payload]. 0: stdin bytes; 4: resize {"Width":W,"Height":H} (v4, v5, tty routes); 255 0: end of stdin (v5). A message on channel 1, 2 or 3 closes the session with 1002; others are ignored.',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary', minLength: 1 }
  },
  channelOutput: {
    name: 'channelOutput',
    title: 'Channel message from the server',
    summary: 'Kubernetes exec channels: a binary message [channel][payload]. 1: stdout (and stderr on a tty route); 2: stderr; 3, last, just before the close (1000): a Kubernetes Status JSON (v4, v5: {"metadata":{},"status":"Success"}, or "Failure" with reason NonZeroExitCode and the exit code as the ExitCode cause), or on channel.k8s.io nothing on success and the message text on failure.',
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary', minLength: 1 }
  }
}

/**
 * The messages a route's connections carry each way, as [key in the channel, component name]:
 * the first each way is keyed `output` and `input`, the others by their component name.
 */
function messagesOf (route: Route): { output: Array<[string, string]>, input: Array<[string, string]> } {
  const output: string[] = []
  const input: string[] = []
  if (route.protocols.includes('plain')) {
    if (route.tty) {
      output.push('terminalOutput')
      input.push('terminalInput', ...(route.ttyControl === 'json' ? ['resize'] : []))
    } else if (route.mode === 'text') {
      output.push(route.stderr === 'tagged' ? 'taggedLine' : 'outputLine')
      input.push('inputLine')
    } else {
      output.push('outputChunk')
      input.push('inputChunk')
    }
    input.push('endOfInput')
  }
  if (route.protocols.some((p) => p !== 'plain')) {
    output.push('channelOutput')
    input.push('channelInput')
  }
  const keyed = (names: string[], first: string): Array<[string, string]> => names.map((name, i) => [i === 0 ? first : name, name])
  return { output: keyed(output, 'output'), input: keyed(input, 'input') }
}

/** The query parameters a route reads besides QUERY_STRING. */
function queryOf (route: Route): Record<string, Json> {
  const properties: Record<string, Json> = {}
  if (route.tty) {
    properties['cols'] = { type: 'string', pattern: '^[0-9]+$', description: `terminal columns, 1-65535 (default ${route.ttySize.cols})` }
    properties['rows'] = { type: 'string', pattern: '^[0-9]+$', description: `terminal rows, 1-65535 (default ${route.ttySize.rows})` }
  }
  if (route.protocols.some((p) => p !== 'plain')) {
    for (const name of ['stdin', 'stdout', 'stderr', 'tty']) {
      properties[name] = { type: 'string', description: `channel sessions: true or 1 asks for ${name} (absent, false or 0: not), as the Kubernetes API server reads it` }
    }
  }
  return properties
}

/** A channel id for a route path: `/count/:n` → `count_n`, `/` → `root`. */
function channelId (path: string, taken: Set<string>): string {
  const base = path === '/' ? 'root' : path.slice(1).replace(/[^A-Za-z0-9.\-_]+/g, '_')
  let id = base
  for (let n = 2; taken.has(id); n++) id = `${base}_${n}`
  taken.add(id)
  return id
}

function channel (route: Route): Record<string, Json> {
  const text = route.mode === 'text'
  const { output, input } = messagesOf(route)
  const names = Object.keys(route.params)
  const parameters: Record<string, Json> = {}
  for (const name of names) {
    const pattern = route.params[name] as string
    parameters[name] = { description: `one path segment, percent-decoded, matching the whole of ${pattern}`, 'x-pattern': pattern }
  }
  return {
    address: route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}'),
    title: route.path,
    description: `Each connection starts its own process${route.tty ? ' on a pseudo-terminal. Raw terminal bytes both ways.' : `. ${text ? 'One message per line.' : 'Binary chunks.'}`} The close code carries the exit status (see x-close-codes)${route.protocols.some((p) => p !== 'plain') ? '; on channel sessions it is 1000 and the status is on channel 3' : ''}.`,
    ...(names.length === 0 ? {} : { parameters }),
    messages: Object.fromEntries([...output, ...input].map(([key, name]) => [key, { $ref: `#/components/messages/${name}` }])),
    bindings: {
      ws: {
        method: 'GET',
        query: { type: 'object', description: 'any query; the program gets it as QUERY_STRING', properties: queryOf(route), additionalProperties: { type: 'string' } },
        headers: {
          type: 'object',
          properties: { 'Sec-WebSocket-Protocol': { type: 'string', description: `subprotocols offered; the route speaks ${route.protocols.join(', ')} (plain: wsexec's framing, chosen when no other is offered)` } }
        },
        bindingVersion: '0.1.0'
      }
    },
    'x-wsexec': { path: route.path, mode: route.mode, stderr: route.stderr, params: { ...route.params }, tty: route.tty, ttySize: { ...route.ttySize }, ttyControl: route.ttyControl, protocols: [...route.protocols] },
    'x-close-codes': CLOSE_CODES.map((c) => ({ ...c }))
  }
}

/**
 * The AsyncAPI 3.0 document of the configuration's routes: one channel per route (address,
 * path parameters with their patterns, the `ws` binding, the messages each way, the close codes)
 * and a receive and a send operation for each.
 */
export function asyncapiDocument (config: Config, server: AsyncApiServer = { host: `${config.listen.host}:${config.listen.port}`, secure: false }): Record<string, Json> {
  const channels: Record<string, Json> = {}
  const operations: Record<string, Json> = {}
  const taken = new Set<string>()
  for (const route of config.routes) {
    const id = channelId(route.path, taken)
    channels[id] = channel(route)
    operations[`${id}_output`] = {
      action: 'receive',
      title: `Output of ${route.path}`,
      channel: { $ref: `#/channels/${id}` },
      messages: messagesOf(route).output.map(([key]) => ({ $ref: `#/channels/${id}/messages/${key}` }))
    }
    operations[`${id}_input`] = {
      action: 'send',
      title: `Input to ${route.path}`,
      channel: { $ref: `#/channels/${id}` },
      messages: messagesOf(route).input.map(([key]) => ({ $ref: `#/channels/${id}/messages/${key}` }))
    }
  }
  return {
    asyncapi: '3.1.0',
    info: {
      title: 'wsexec',
      version: VERSION,
      description: 'Programs served as WebSocket endpoints by wsexec: one process per connection, one message per line (text mode) or chunk (binary mode), the exit status in the close code.'
    },
    servers: {
      wsexec: { host: server.host, protocol: server.secure ? 'wss' : 'ws', description: 'this wsexec server' }
    },
    channels,
    operations,
    components: { messages: MESSAGES }
  }
}
