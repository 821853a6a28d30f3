import t from 'tap'
import { connect } from '../helpers/client.js'
import { q, startServer } from '../helpers/server.js'

const LINES = 1000
// Each line is one write, alternately to fd 1 and fd 2 (sh's echo writes at once): their order is the program's.
const alternate = `i=0; while [ $i -lt ${LINES} ]; do if [ $((i % 2)) = 0 ]; then echo "out $i"; else echo "err $i" >&2; fi; i=$((i + 1)); done`

for (const spawners of [1, 0]) {
  t.test(`stderr: merge is 2>&1: ${LINES} alternating lines arrive in order (spawners: ${spawners})`, async (t) => {
    const s = await startServer(t, `spawners: ${spawners}
routes:
  /alternate:
    command: [sh, -c, ${q(alternate)}]
    stderr: merge
  /sh:
    command: [sh, -c, "echo to-stdout; echo to-stderr >&2; echo done"]
    stderr: merge
`)
    const c = connect(`${s.url}/alternate`)
    t.same(await c.closed, { code: 1000, reason: 'exit 0' })
    t.same(c.messages, Array.from({ length: LINES }, (_, i) => `${i % 2 === 0 ? 'out' : 'err'} ${i}`), 'every line, in the order written')
    const sh = connect(`${s.url}/sh`)
    await sh.closed
    t.same(sh.messages, ['to-stdout', 'to-stderr', 'done'], 'the issue\'s example')
    t.equal(s.logs.filter((r) => r.msg === 'program stderr').length, 0, 'nothing logged')
  })
}
