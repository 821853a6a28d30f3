import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { findAccount, findGroup, parseAccounts, readAccounts } from '../../src/config/accounts.js'
import { processHost, resolveContainments } from '../../src/config/contain.js'
import { findTool, type Host } from '../../src/config/containment.js'
import { parseConfig } from '../../src/config/load.js'
import { loadConfigText } from '../../src/config/pipeline.js'
import { toBytes } from '../../src/config/size.js'
import { ConfigError } from '../../src/errors.js'
import { root } from '../helpers/cli.js'

const run = promisify(execFile)

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\n# a comment\nbroken line\nalice:x:1001:1001::/home/alice:/bin/sh\nodd:x:abc:1::/:/bin/sh\n'
const GROUP = 'root:x:0:\nalice:x:1001:\nstaff:x:50:alice,bob\nbad:x:z:alice\n'
const db = parseAccounts(PASSWD, GROUP)

function host (o: Partial<Host> = {}): Host {
  return { uid: 0, gid: 0, accounts: async () => db, tool: (name) => `/usr/bin/${name}`, ...o }
}

async function problems (yaml: string, h: Host = host()): Promise<string[]> {
  try {
    await resolveContainments(parseConfig(yaml, 'c.yaml', '/'), h)
    return []
  } catch (err) {
    return (err as ConfigError).problems.map((p) => `${p.line}:${p.column}: ${p.key}: ${p.message}`)
  }
}

t.test('account databases: passwd and group lines, comments and malformed lines skipped', async (t) => {
  t.same(findAccount(db, 'alice'), { name: 'alice', uid: 1001, gid: 1001, home: '/home/alice', groups: [1001, 50] })
  t.same(findAccount(db, 0)?.name, 'root')
  t.equal(findAccount(db, 'odd'), undefined)
  t.equal(findAccount(db, 'nobody-here'), undefined)
  t.equal(findGroup(db, 'staff'), 50)
  t.equal(findGroup(db, 7), 7)
  t.equal(findGroup(db, 'none'), undefined)
  const real = await readAccounts()
  t.equal(findAccount(real, 'nobody')?.uid, 65534, 'the real /etc/passwd')
  await t.rejects(readAccounts({ passwd: '/nonexistent/passwd', group: '/etc/group' }), { code: 'ENOENT' })
})

t.test('sizes: bytes, binary and decimal units', async (t) => {
  t.equal(toBytes(0), 0)
  t.equal(toBytes('512MiB'), 512 * 1024 ** 2)
  t.equal(toBytes('1.5KiB'), 1536)
  t.equal(toBytes('2GB'), 2e9)
  t.equal(toBytes('7B'), 7)
  t.throws(() => toBytes('5 parsecs'), TypeError)
  t.throws(() => toBytes(-1), TypeError)
})

t.test('tools: found in the fixed folders only', async (t) => {
  t.equal(findTool('prlimit'), '/usr/bin/prlimit')
  t.equal(findTool('prlimit', ['/nonexistent']), undefined)
  t.equal(processHost().uid, process.getuid?.())
})

t.test('the argv prefix: prlimit, then setpriv with the account\'s groups', async (t) => {
  const config = await resolveContainments(parseConfig('user: alice\nrlimits: { cpu: 1500ms, files: 10 }\nroutes:\n  /a: { command: [id] }\n  /b: { command: [id], group: root, rlimits: { cpu: 2s } }\n', 'c.yaml', '/'), host())
  const [a, b] = config.routes
  t.same(a?.containment.prefix, ['/usr/bin/prlimit', '--cpu=2:3', '--nofile=10:10', '--', '/usr/bin/setpriv', '--reuid=1001', '--regid=1001', '--groups=1001,50', '--'])
  t.same(b?.containment.prefix, ['/usr/bin/prlimit', '--cpu=2:3', '--nofile=10:10', '--', '/usr/bin/setpriv', '--reuid=1001', '--regid=0', '--groups=0,1001,50', '--'])
  t.equal(a?.containment.account?.home, '/home/alice')
  const plain = await resolveContainments(parseConfig('routes:\n  /a: { command: [id] }\n', 'c.yaml', '/'), host())
  t.same(plain.routes[0]?.containment, { runAs: null, rlimits: null, rlimitsKey: 'routes./a.rlimits', rlimitsAt: { line: 2, column: 7 }, prefix: [], account: null, setpriv: '' })
})

t.test('not root: the server\'s own account needs no switch, another one is a config error', async (t) => {
  const own = await resolveContainments(parseConfig('routes:\n  /a: { command: [id], user: alice }\n', 'c.yaml', '/'), host({ uid: 1001, gid: 1001 }))
  t.same(own.routes[0]?.containment.prefix, [], 'nothing to switch')
  t.equal(own.routes[0]?.containment.account?.name, 'alice', 'HOME, USER and LOGNAME still come from it')
  t.same(await problems('routes:\n  /a:\n    command: [id]\n    user: root\n', host({ uid: 1001, gid: 1001 })), [
    '4:11: routes./a.user: wsexec runs as uid 1001 gid 1001, not root: it cannot run programs as root (uid 0 gid 0)'
  ])
  t.same(await problems('routes:\n  /a:\n    command: [id]\n    user: alice\n    group: staff\n', host({ uid: 1001, gid: 1001 })), [
    '4:11: routes./a.user: wsexec runs as uid 1001 gid 1001, not root: it cannot run programs as alice (uid 1001 gid 50)'
  ])
  t.same(await problems('auth: { basic: { usersFile: x } }\nroutes:\n  /a:\n    command: [id]\n    user: "{REMOTE_USER}"\n', host({ uid: 1001, gid: 1001 })), [
    '5:11: routes./a.user: wsexec runs as uid 1001, not root: it cannot run sessions as their users\' accounts'
  ])
})

t.test('unknown accounts and groups, missing tools, unreadable databases, each reported once', async (t) => {
  t.same(await problems('user: carol\nroutes:\n  /a: { command: [id] }\n  /b: { command: [id] }\n'), ['1:7: user: no account "carol" in /etc/passwd'])
  t.same(await problems('routes:\n  /a: { command: [id], user: 4242 }\n'), ['2:30: routes./a.user: no account 4242 in /etc/passwd'])
  t.same(await problems('routes:\n  /a: { command: [id], user: alice, group: nogroup }\n'), ['2:44: routes./a.group: no group "nogroup" in /etc/group'])
  t.same(await problems('routes:\n  /a: { command: [id], user: alice, rlimits: { core: 0 } }\n', host({ tool: () => undefined })), [
    '2:30: routes./a.user: needs util-linux setpriv, found in none of /usr/bin, /bin, /usr/sbin, /sbin',
    '2:46: routes./a.rlimits: needs util-linux prlimit, found in none of /usr/bin, /bin, /usr/sbin, /sbin'
  ])
  t.same(await problems('auth: { basic: { usersFile: x } }\nroutes:\n  /a: { command: [id], user: "{REMOTE_USER}" }\n', host({ tool: () => undefined })), [
    '3:30: routes./a.user: needs util-linux setpriv, found in none of /usr/bin, /bin, /usr/sbin, /sbin'
  ])
  const unreadable = host({ accounts: async () => { throw Object.assign(new Error('no'), { code: 'EACCES' }) } })
  t.same(await problems('routes:\n  /a: { command: [id], user: alice }\n', unreadable), ['2:30: routes./a.user: cannot read the account databases (EACCES)'])
})

t.test('{REMOTE_USER}: needs auth; no account is looked up at load', async (t) => {
  t.same(await problems('routes:\n  /a: { command: [id], user: "{REMOTE_USER}" }\n'), ['2:30: routes./a.user: {REMOTE_USER} needs auth: a session without a user has no account'])
  const config = await resolveContainments(parseConfig('auth: { basic: { usersFile: x } }\nminUid: 2000\nroutes:\n  /a: { command: [id], user: "{REMOTE_USER}" }\n', 'c.yaml', '/'), host())
  const c = config.routes[0]?.containment
  t.equal(c?.setpriv, '/usr/bin/setpriv')
  t.equal(c?.account, null)
  t.equal(c?.runAs?.minUid, 2000)
})

t.test('rules the schema cannot express', async (t) => {
  const rules = (yaml: string): string[] => {
    try {
      parseConfig(yaml, 'c.yaml', '/')
      return []
    } catch (err) {
      return (err as ConfigError).problems.map((p) => `${p.key}: ${p.message}`)
    }
  }
  t.same(rules('group: staff\nroutes:\n  /a: { command: [id], group: 5 }\n'), ['group: group needs user', 'routes./a.group: group needs user'])
  t.same(rules('user: alice\nroutes:\n  /a: { command: [id], group: 5 }\n'), [])
  t.same(rules('user: "{REMOTE_USER}"\nroutes:\n  /a: { command: [id], group: 5 }\n'), ['routes./a.group: {REMOTE_USER} runs each session with its account\'s own groups: remove group'])
  t.same(rules('routes:\n  /a: { command: [id], rlimits: { cpu: 0 } }\n'), ['routes./a.rlimits.cpu: must be at least 1s'])
  t.same(rules('routes:\n  /a: { command: [id], rlimits: { memory: lots, files: -1 }, user: [x] }\n'), [
    'routes./a.rlimits.memory: must be a size such as 64KiB, 512MiB, 100MB, or a number of bytes',
    'routes./a.rlimits.files: must be at least 0',
    'routes./a.user: must be a name or a number'
  ])
  t.same(rules('routes:\n  /a: { command: [id], rlimits: {} }\n'), ['routes./a.rlimits: must not be empty'])
})

t.test('as a user other than root, `wsexec --check` refuses another account (file:line:col)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-user-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755)
  const file = join(dir, 'routes.yaml')
  await writeFile(file, 'routes:\n  /id:\n    command: [id]\n    user: root\n', { mode: 0o644 })
  const err = await run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', process.execPath, '--import', 'tsx', join(root, 'src/bin.ts'), '--check', '-c', file], { cwd: root }).then(() => undefined, (e: unknown) => e as { code: number, stderr: string })
  t.equal(err?.code, 2)
  t.match(err?.stderr, `${file}:4:11: routes./id.user: wsexec runs as uid 65534 gid 65534, not root: it cannot run programs as root (uid 0 gid 0)`)
})

t.test('loadConfig resolves containment (the real host)', async (t) => {
  const config = await loadConfigText('routes:\n  /a: { command: [id], user: nobody, rlimits: { core: 0 } }\n', {}, { env: { PATH: '/usr/bin:/bin' } })
  t.same(config.routes[0]?.containment.prefix, ['/usr/bin/prlimit', '--core=0:0', '--', '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--groups=65534', '--'])
})
