import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CloseCode } from '../../src/close-codes.js'
import { connect } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'

/** The soft and hard limits of /proc/self/limits lines, by name. */
function limitsOf (lines: ReadonlyArray<string | Buffer>): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {}
  for (const line of lines.map(String)) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line)
    if (m !== null) out[m[1] as string] = [m[2] as string, m[3] as string]
  }
  return out
}

const RLIMITS = '{ cpu: 60s, memory: 512MiB, files: 256, processes: 64, fileSize: 100MiB, core: 0 }'

for (const [name, extra] of [['pipes, spawners 0', 'spawners: 0\n'], ['pipes, a spawner', 'spawners: 1\n'], ['a terminal', '']] as const) {
  t.test(`every limit is the program's soft and hard limit (${name})`, async (t) => {
    const tty = name === 'a terminal'
    const s = await startServer(t, `${extra}rlimits: ${RLIMITS}\nroutes:\n  /limits:\n    command: [cat, /proc/self/limits]\n    tty: ${tty}\n`)
    const c = connect(`${s.url}/limits`)
    t.equal((await c.closed).code, CloseCode.NORMAL)
    const limits = limitsOf(tty ? c.messages.map(String).join('').split('\r\n') : c.messages)
    t.same(limits['Max cpu time'], ['60', '61'], 'SIGXCPU at 60 s, SIGKILL a second later')
    t.same(limits['Max address space'], [String(512 * 1024 ** 2), String(512 * 1024 ** 2)])
    t.same(limits['Max open files'], ['256', '256'])
    t.same(limits['Max processes'], ['64', '64'])
    t.same(limits['Max file size'], [String(100 * 1024 ** 2), String(100 * 1024 ** 2)])
    t.same(limits['Max core file size'], ['0', '0'])
  })
}

t.test('a route\'s rlimits add to the top level\'s, key by key, and the pid is the program\'s', async (t) => {
  const s = await startServer(t, 'rlimits: { files: 100, core: 1MiB }\nroutes:\n  /limits:\n    command: [sh, -c, "echo $$; cat /proc/$$/limits"]\n    rlimits: { core: 0 }\n')
  const c = connect(`${s.url}/limits`)
  await c.closed
  const limits = limitsOf(c.messages)
  t.same(limits['Max open files'], ['100', '100'])
  t.same(limits['Max core file size'], ['0', '0'])
  t.same(limits['Max cpu time'], ['unlimited', 'unlimited'])
  const start = s.logs.find((r) => r.msg === 'session start')
  t.equal(String(start?.['childPid']), String(c.messages[0]), 'prlimit executes the program in its own place: the logged pid is the shell\'s')
})

t.test('a CPU loop ends with SIGXCPU and its close code', async (t) => {
  const s = await startServer(t, 'routes:\n  /spin:\n    command: [sh, -c, "while :; do :; done"]\n    rlimits: { cpu: 1s }\n')
  const c = connect(`${s.url}/spin`)
  t.same(await c.closed, { code: CloseCode.SIGNAL_BASE + 24, reason: 'signal SIGXCPU' })
})

t.test('a file past fileSize ends the writer with SIGXFSZ', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wsexec-rlimits-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const s = await startServer(t, `routes:\n  /write:\n    command: [dd, if=/dev/zero, "of=${join(dir, 'big')}", bs=4096, count=4, status=none]\n    rlimits: { fileSize: 4KiB }\n`)
  const c = connect(`${s.url}/write`)
  t.same(await c.closed, { code: CloseCode.SIGNAL_BASE + 25, reason: 'signal SIGXFSZ' })
})
