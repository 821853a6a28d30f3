import { createRequire } from 'node:module'
import type { EventEmitter } from 'node:events'
import type { Writable } from 'node:stream'

// ws exports its frame parser, but @types/ws does not declare it.
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (options: { isServer: boolean }) => Writable & EventEmitter }

/** A decoded WebSocket message. */
export interface Decoded { data: Buffer, isBinary: boolean }

/** Decodes server-to-client frames with ws's own parser. */
export function decodeFrames (bytes: Buffer | undefined): Decoded[] {
  const receiver = new Receiver({ isServer: false })
  const out: Decoded[] = []
  receiver.on('message', (data: Buffer, isBinary: boolean) => out.push({ data, isBinary }))
  if (bytes !== undefined) receiver.write(bytes)
  return out
}
