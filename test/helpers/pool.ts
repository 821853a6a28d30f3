import { pino } from 'pino'
import { SpawnerPool } from '../../src/spawner/pool.js'
import { until } from './client.js'
import { logSink, type LogRecord } from './server.js'

/** A pool of one spawner, closed at the test's end, once that spawner said it is ready; with its pid. */
export async function readyPool (t: { teardown: (fn: () => unknown) => void }): Promise<{ pool: SpawnerPool, pid: number }> {
  const records: LogRecord[] = []
  const pool = new SpawnerPool(1, pino({ level: 'debug' }, logSink(records)))
  t.teardown(() => pool.close())
  pool.start()
  await until(() => records.some((r) => r.msg === 'spawner ready'), 'the spawner')
  const pid = records.find((r) => r.msg === 'spawner ready')?.['spawnerPid'] as number
  return { pool, pid }
}
