import { beforeDeadline, connectClient, describeClose } from './helpers.js'
import type { ScenarioContext } from './types.js'

/** What a client counted from a route that only prints. */
export interface Received {
  messages: number
  payloadBytes: number
  /** From the completed upgrade to the end of the connection, in ms. */
  elapsedMs: number
  ending: string
}

/** Connects to a print-only route and counts messages (without inspecting them) until the connection ends. */
export async function receiveAll (ctx: ScenarioContext): Promise<Received> {
  const client = await connectClient(ctx, undefined, true)
  const startMs = performance.now()
  try {
    const info = await beforeDeadline(client.closed, ctx.signal, 'receiving')
    return {
      messages: client.messages,
      payloadBytes: client.payloadBytes,
      elapsedMs: info.atMs - startMs,
      ending: describeClose(info.code, info.error)
    }
  } finally {
    client.destroy()
  }
}
