import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { readSecurityFiles } from '../../src/config/files.js'

const load = async (yaml: string, env: Record<string, string> = {}): Promise<unknown> =>
  readSecurityFiles(parseConfig(yaml, 'c.yaml', '/'), env)

t.test('missing or malformed credential files are start-up errors with file:line:column', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-cred-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'short'), 'ok-token-0123456789\nname:short\n')
  await writeFile(join(dir, 'empty'), '# nothing\n\n')
  await writeFile(join(dir, 'users'), `al:${bcrypt.hashSync('x', 4)}\nbob:plain\nno-colon\n`)
  await writeFile(join(dir, 'nousers'), '\n')
  await writeFile(join(dir, 'bad.pem'), 'not a pem')
  await t.rejects(load(`auth:\n  bearer: { tokensFile: ${join(dir, 'missing')} }\nroutes:\n  /a:\n    command: [cat]\n`),
    { message: new RegExp(`c.yaml:2:3: auth.bearer.tokensFile: cannot read ${join(dir, 'missing')} \\(ENOENT\\)`) })
  await t.rejects(load(`routes:\n  /a:\n    command: [cat]\n    auth:\n      bearer: { tokensFile: ${join(dir, 'short')} }\n`),
    { message: new RegExp(`c.yaml:5:7: routes./a.auth.bearer.tokensFile: ${join(dir, 'short')}:2: a token needs at least 16 characters`) })
  await t.rejects(load(`auth: { bearer: { tokensFile: ${join(dir, 'empty')} } }\nroutes:\n  /a:\n    command: [cat]\n`), { message: /holds no token/ })
  await t.rejects(load('auth: { bearer: { tokensEnv: TOKENS } }\nroutes:\n  /a:\n    command: [cat]\n'), { message: /auth.bearer.tokensEnv: the variable TOKENS is not set/ })
  await t.rejects(load('auth: { bearer: { tokensEnv: TOKENS } }\nroutes:\n  /a:\n    command: [cat]\n', { TOKENS: ' ' }), { message: /\$TOKENS holds no token/ })
  const users = load(`auth: { basic: { usersFile: ${join(dir, 'users')} } }\nroutes:\n  /a:\n    command: [cat]\n`)
  await t.rejects(users, { message: /users:2: expected user:bcrypt-hash \(htpasswd -B\)\n.*users:3: expected/ })
  await t.rejects(load(`auth: { basic: { usersFile: ${join(dir, 'nousers')} } }\nroutes:\n  /a:\n    command: [cat]\n`), { message: /holds no user/ })
  await t.rejects(load(`auth: { basic: { usersFile: ${join(dir, 'none')} } }\nroutes:\n  /a:\n    command: [cat]\n`), { message: /basic.usersFile: cannot read/ })
  await t.rejects(load(`tls: { cert: ${join(dir, 'nope.pem')}, key: ${join(dir, 'bad.pem')}, ca: ${join(dir, 'nope.pem')} }\nroutes:\n  /a:\n    command: [cat]\n`),
    { message: /c.yaml:1:6: tls.cert: cannot read .*\n.*tls.ca: cannot read/ })
  await t.rejects(load(`tls: { cert: ${join(dir, 'bad.pem')}, key: ${join(dir, 'bad.pem')} }\nroutes:\n  /a:\n    command: [cat]\n`), { message: /tls.cert: unusable certificate, key or CA/ })
})

t.test('routes inheriting the top-level auth share one loaded spec', async (t) => {
  const config = await load('auth: { bearer: { tokensEnv: T } }\nroutes:\n  /a:\n    command: [cat]\n  /b:\n    command: [cat]\n  /c:\n    command: [cat]\n    auth: false\n', { T: 'x:0123456789abcdef' }) as { routes: Array<{ auth: unknown }> }
  t.equal(config.routes[0]?.auth, config.routes[1]?.auth)
  t.equal(config.routes[2]?.auth, null)
  t.match(config.routes[0]?.auth, { credentials: { tokens: [{ name: 'x' }] } })
})
