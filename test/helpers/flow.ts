import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { FLOW_CHANNEL, type FlowEvent } from '../../src/session/flow.js'
import { DEADLINE_MS } from './client.js'

/** What {@link watchFlow} gives: the next event of a kind, and the most bytes seen held for the client. */
export interface FlowWatch {
  /** Settles with the next `event` of the session (any session until one is named), or fails after the deadline. */
  next (event: FlowEvent['event'], session?: string): Promise<FlowEvent>
  /** The most bytes held for the client in any event seen so far. */
  readonly mostToClient: number
}

/** Subscribes to the sessions' flow channel (see src/session/flow.ts) until the test ends. */
export function watchFlow (t: { teardown: (fn: () => void) => void }): FlowWatch {
  const waiting = new Set<{ event: string, session: string | undefined, resolve: (e: FlowEvent) => void }>()
  let most = 0
  const onMessage = (message: unknown): void => {
    const e = message as FlowEvent
    most = Math.max(most, e.toClient)
    for (const w of waiting) {
      if (w.event !== e.event || (w.session !== undefined && w.session !== e.session)) continue
      waiting.delete(w)
      w.resolve(e)
    }
  }
  subscribe(FLOW_CHANNEL, onMessage)
  t.teardown(() => unsubscribe(FLOW_CHANNEL, onMessage))
  return {
    next (event, session) {
      return new Promise((resolve, reject) => {
        const w = { event, session, resolve: (e: FlowEvent) => { clearTimeout(timer); resolve(e) } }
        const timer = setTimeout(() => { waiting.delete(w); reject(new Error(`no ${event} within ${DEADLINE_MS} ms`)) }, DEADLINE_MS)
        waiting.add(w)
      })
    },
    get mostToClient () { return most }
  }
}

/** The bytes a server holds for its sessions now, from its `wsexec_buffered_bytes` metric. */
export async function bufferedBytes (app: { wsexec: { metrics: { registry: { getSingleMetric: (name: string) => unknown } } } }): Promise<{ toClient: number, toProgram: number }> {
  const gauge = app.wsexec.metrics.registry.getSingleMetric('wsexec_buffered_bytes') as { get: () => Promise<{ values: Array<{ labels: { direction?: string }, value: number }> }> }
  const { values } = await gauge.get()
  const of = (direction: string): number => values.find((v) => v.labels.direction === direction)?.value ?? 0
  return { toClient: of('to_client'), toProgram: of('to_program') }
}
