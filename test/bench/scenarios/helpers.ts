import { setTimeout as sleep } from 'node:timers/promises'
import { LeanClient } from '../lean-client.js'
import { readProgramPids } from '../proc.js'
import type { ScenarioContext } from './types.js'

/** Formats a count for descriptions: 1000000 → "1,000,000". */
export function formatCount (count: number): string {
  return count.toLocaleString('en-US')
}

/** Upgrade timeout of every bench connection, in ms. */
export const CONNECT_TIMEOUT_MS = 5000

/**
 * Opens a lean client on the scenario's route; `onMessage` is attached before the upgrade completes.
 * `batchReads` trades up to 1 ms of latency for far fewer reads (throughput scenarios only).
 */
export async function connectClient (ctx: ScenarioContext, onMessage?: (payload: Buffer) => void, batchReads = false): Promise<LeanClient> {
  return await LeanClient.connect({
    host: ctx.server.host,
    port: ctx.server.port,
    path: ctx.route.path,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    batchReads,
    ...(onMessage === undefined ? {} : { onMessage })
  })
}

/** Resolves like `promise`, or rejects with "`what` timed out" once `signal` aborts. */
export async function beforeDeadline<T> (promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) throw new Error(`${what} timed out`)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(new Error(`${what} timed out`)) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** Describes how a connection ended, for notes: "close 1000", "TCP end (1006)" or the error. */
export function describeClose (code: number | undefined, error: Error | undefined): string {
  if (error !== undefined) return `error ${error.message}`
  return code === undefined ? 'TCP end (1006)' : `close ${code}`
}

/** Resolves like `promise`, or rejects if the client's connection ends first. */
export async function unlessClosed<T> (promise: Promise<T>, client: LeanClient): Promise<T> {
  return await Promise.race([promise, client.closed.then((info): never => {
    throw new Error(`connection ended: ${describeClose(info.code, info.error)}`)
  })])
}

/**
 * Opens one session, closes it after `holdMs`, and waits (at most 3 s) until the server has no child.
 * Run before reading a baseline RSS, so one-time start-up costs (lazy loading, JIT) do not count as growth.
 * Returns false if the child was still there after 3 s.
 */
export async function warmUp (ctx: ScenarioContext, holdMs: number): Promise<boolean> {
  const client = await connectClient(ctx)
  if (holdMs > 0) await sleep(holdMs)
  client.close()
  await Promise.race([client.closed, sleep(1000)])
  client.destroy()
  const deadline = Date.now() + 3000
  while (readProgramPids(ctx.server.pid).length > 0 && Date.now() < deadline) await sleep(20)
  return readProgramPids(ctx.server.pid).length === 0
}
