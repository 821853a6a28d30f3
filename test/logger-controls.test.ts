import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger, escapeControls, terminalLine } from '../src/logger.js'

const OSC52 = '\u001b]52;c;cm0gLXJmIH4K\u0007'

t.test('pretty terminal lines escape C0 and C1 controls: a program\'s stderr cannot reach the operator\'s terminal raw', async (t) => {
  t.equal(escapeControls(`a${OSC52}b\u009b2J\u007f\t`), 'a\\x1b]52;c;cm0gLXJmIH4K\\x07b\\x9b2J\\x7f\\x09')
  t.equal(escapeControls('plain é ✓'), 'plain é ✓', 'printable text, Unicode included, is left alone')
  t.equal(terminalLine({ level: 40, msg: 'program stderr', stderr: `${OSC52}\u001b[2J`, path: '/x' }), '/x program stderr  stderr=\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J')
  let out = ''
  const sink = new Writable({ write (chunk: Buffer, _encoding, callback) { out += chunk.toString(); callback() } })
  const logger = createLogger('info', sink, true)
  logger.warn({ childPid: 1, stderr: `title\u001b]0;pwned\u0007${OSC52}` }, 'program stderr')
  t.match(out, 'stderr=title\\x1b]0;pwned\\x07\\x1b]52;c;')
  t.notOk(out.includes('\u001b]'), 'no OSC sequence reaches the terminal')
  t.notOk(out.includes('\u0007'), 'no BEL either')
})

t.test('a route\'s announcement prints its URL once; a url the message does not say stays a field', async (t) => {
  t.equal(terminalLine({ level: 30, msg: 'route ws://127.0.0.1:8080/echo → cat', route: '/echo', url: 'ws://127.0.0.1:8080/echo' }), 'route ws://127.0.0.1:8080/echo → cat')
  t.equal(terminalLine({ level: 30, msg: 'console http://127.0.0.1:8080/', url: 'http://127.0.0.1:8080/' }), 'console http://127.0.0.1:8080/')
  t.equal(terminalLine({ level: 20, msg: 'metrics listening', url: 'http://127.0.0.1:9090' }), 'metrics listening  url=http://127.0.0.1:9090')
})
