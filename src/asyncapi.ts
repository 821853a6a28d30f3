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
  }
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
  const output = text ? (route.stderr === 'tagged' ? 'taggedLine' : 'outputLine') : 'outputChunk'
  const input = text ? 'inputLine' : 'inputChunk'
  const names = Object.keys(route.params)
  const parameters: Record<string, Json> = {}
  for (const name of names) {
    const pattern = route.params[name] as string
    parameters[name] = { description: `one path segment, percent-decoded, matching the whole of ${pattern}`, 'x-pattern': pattern }
  }
  return {
    address: route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}'),
    title: route.path,
    description: `Each connection starts its own process. ${text ? 'One message per line.' : 'Binary chunks.'} The close code carries the exit status (see x-close-codes).`,
    ...(names.length === 0 ? {} : { parameters }),
    messages: { output: { $ref: `#/components/messages/${output}` }, input: { $ref: `#/components/messages/${input}` } },
    bindings: {
      ws: {
        method: 'GET',
        query: { type: 'object', description: 'any query; the program gets it as QUERY_STRING', additionalProperties: { type: 'string' } },
        bindingVersion: '0.1.0'
      }
    },
    'x-wsexec': { path: route.path, mode: route.mode, stderr: route.stderr, params: { ...route.params } },
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
      messages: [{ $ref: `#/channels/${id}/messages/output` }]
    }
    operations[`${id}_input`] = {
      action: 'send',
      title: `Input to ${route.path}`,
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/input` }]
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
