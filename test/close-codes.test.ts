import t from 'tap'
import { CloseCode, closeForExit, closeForProtocolError, closeForSpawnError } from '../src/close-codes.js'

t.test('exit status and signals map into the close code', async (t) => {
  t.same(closeForExit(0, null), { code: 1000, reason: 'exit 0' })
  t.same(closeForExit(3, null), { code: 4003, reason: 'exit 3' })
  t.same(closeForExit(255, null), { code: 4255, reason: 'exit 255' })
  t.same(closeForExit(null, 'SIGKILL'), { code: 4137, reason: 'signal SIGKILL' })
  t.same(closeForExit(null, 'SIGTERM'), { code: 4143, reason: 'signal SIGTERM' })
  t.same(closeForExit(null, null), { code: 1000, reason: 'exit 0' }, 'no status at all counts as success')
  t.same(closeForExit(null, 'SIGNOPE'), { code: CloseCode.SIGNAL_BASE, reason: 'signal SIGNOPE' }, 'unknown signal names keep the base')
})

t.test('spawn failures are 1011 with the error code', async (t) => {
  t.same(closeForSpawnError('ENOENT'), { code: 1011, reason: 'spawn failed: ENOENT' })
})

t.test('the map is frozen', async (t) => {
  t.ok(Object.isFrozen(CloseCode))
})

t.test('protocol errors from ws map to 1007, 1009 and 1002', async (t) => {
  t.equal(closeForProtocolError('WS_ERR_INVALID_UTF8'), 1007)
  t.equal(closeForProtocolError('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'), 1009)
  t.equal(closeForProtocolError('WS_ERR_INVALID_OPCODE'), 1002)
  t.equal(closeForProtocolError('WS_ERR_EXPECTED_MASK'), 1002)
  t.equal(closeForProtocolError(undefined), 1002)
})
