import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import t from 'tap'
import { sessionAccount } from '../../src/security/accounts.js'
import type { RunAs } from '../../src/config/containment.js'
import { connect, refusedUpgrade } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'

const run = promisify(execFile)

const YAML = (minUid = 1000): string => `trustProxy: [127.0.0.1]
auth: { header: { name: X-Forwarded-User } }
minUid: ${minUid}
routes:
  /me:
    command: [sh, -c, "id -un; id -u; echo $HOME $USER $LOGNAME $REMOTE_USER"]
    user: "{REMOTE_USER}"
`

t.test('user: "{REMOTE_USER}" runs each session as the account of its user; none, root and low uids get 403', async (t) => {
  const name = `wsx${randomBytes(4).toString('hex')}`
  await run('useradd', ['--no-create-home', '--home-dir', `/home/${name}`, '--shell', '/usr/sbin/nologin', name])
  t.teardown(() => run('userdel', [name]))
  const { stdout } = await run('id', ['-u', name])
  const uid = stdout.trim()
  t.ok(Number(uid) >= 1000, 'useradd gives a regular account')

  const s = await startServer(t, YAML())
  const c = connect(`${s.url}/me`, { headers: { 'X-Forwarded-User': name } })
  t.equal((await c.closed).code, 1000)
  t.same(c.messages, [name, uid, `/home/${name} ${name} ${name} ${name}`])
  for (const who of ['root', 'daemon', `${name}-missing`]) {
    const refused = await refusedUpgrade(`${s.url}/me`, { headers: { 'X-Forwarded-User': who } })
    t.equal(refused.status, 403, who)
    t.match(JSON.parse(refused.body), { code: 'WSEXEC_ERR_FORBIDDEN', message: `${who} may not use /me` })
  }
  const strict = await startServer(t, YAML(Number(uid) + 1))
  t.equal((await refusedUpgrade(`${strict.url}/me`, { headers: { 'X-Forwarded-User': name } })).status, 403, 'below minUid')
})

t.test('unreadable account databases refuse the session', async (t) => {
  const runAs = { minUid: 1000 } as unknown as RunAs
  t.equal(await sessionAccount(runAs, { name: 'x', type: 'Proxy' }, async () => { throw new Error('EACCES') }), undefined)
})
