import t from 'tap'
import { WebSocketServer } from 'ws'
import { assertRawWritable } from '../../src/session/connection.js'

t.test('frames are written past ws only when ws can never compress and queue', async (t) => {
  t.doesNotThrow(() => assertRawWritable(new WebSocketServer({ noServer: true, perMessageDeflate: false })))
  t.throws(() => assertRawWritable(new WebSocketServer({ noServer: true, perMessageDeflate: true })), {
    name: 'TypeError',
    message: 'sessions write frames to the socket directly: the WebSocket server needs perMessageDeflate: false'
  })
})
