import t from 'tap'
import { connect } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'

const ID_PROGRAM = '[sh, -c, "id -u; id -g; id -G; echo $HOME $USER $LOGNAME"]'

for (const spawners of [0, 1]) {
  t.test(`user: nobody runs the program as nobody with its own groups only and its HOME (spawners ${spawners})`, async (t) => {
    const s = await startServer(t, `spawners: ${spawners}\nroutes:\n  /id:\n    command: ${ID_PROGRAM}\n    user: nobody\n`)
    const c = connect(`${s.url}/id`)
    const { code } = await c.closed
    t.equal(code, 1000)
    t.same(c.messages, ['65534', '65534', '65534', '/nonexistent nobody nobody'])
  })
}

t.test('user and group by number, at the top level; a route env still wins over HOME', async (t) => {
  const s = await startServer(t, `user: 65534\ngroup: 100\nroutes:\n  /id:\n    command: ${ID_PROGRAM}\n    env: { HOME: /tmp }\n`)
  const c = connect(`${s.url}/id`)
  await c.closed
  t.same(c.messages, ['65534', '100', '100 65534', '/tmp nobody nobody'], 'primary group 100, the account\'s own 65534 beside it')
})

t.test('on a terminal too', async (t) => {
  const s = await startServer(t, `routes:\n  /id:\n    command: ${ID_PROGRAM}\n    user: nobody\n    tty: true\n`)
  const c = connect(`${s.url}/id`)
  await c.closed
  const text = c.messages.map((m) => m.toString()).join('')
  t.match(text, /^65534\r\n65534\r\n65534\r\n\/nonexistent nobody nobody\r\n$/)
})
