import { createRequire } from 'node:module'
import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../src/logger.js'

/** True once pino-pretty is in the process (the module cache of this file's process). */
function prettyLoaded (): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('/node_modules/pino-pretty/'))
}

function sink (lines: string[]): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'))
      callback()
    }
  })
}

t.test('pino-pretty is loaded only for a terminal: JSON logging never maps it', async (t) => {
  const json: string[] = []
  createLogger('info', sink(json), false).info({ path: '/a' }, 'hello')
  t.match(JSON.parse(json.join('')), { msg: 'hello', path: '/a' })
  t.notOk(prettyLoaded(), 'no pino-pretty behind a JSON logger')

  const pretty: string[] = []
  createLogger('info', sink(pretty), true).info({ path: '/a', status: 404 }, 'request refused')
  t.ok(prettyLoaded(), 'pino-pretty once a terminal logger is made')
  t.match(pretty.join(''), /\/a request refused {2}status=404/)
})
