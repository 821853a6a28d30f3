import t from 'tap'
import { connect, until, type Client } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'

// Programs that exit before (or while) their pipes are handed over: every byte arrives, and the
// close carries the status, for every one of many sessions, one after another and at once.
const MIB = 1024 * 1024
const ROUTES = `
spawners: 2
maxPendingSpawns: 1000
maxSessionsPerClient: 1000
routes:
  /true:
    command: [/bin/true]
  /exit3:
    command: [/bin/sh, -c, 'exit 3']
  /hi:
    command: [/bin/sh, -c, 'echo hi; exit 3']
  /err:
    command: [/bin/sh, -c, 'echo out; echo err >&2; exit 5']
    stderr: merge
  /mib:
    command: [/bin/sh, -c, 'head -c ${MIB} /dev/zero | tr "\\\\0" x; exit 7']
    mode: binary
`

interface Case { path: string, code: number, reason: string, check: (c: Client) => boolean }

const CASES: Case[] = [
  { path: '/true', code: 1000, reason: 'exit 0', check: (c) => c.messages.length === 0 },
  { path: '/exit3', code: 4003, reason: 'exit 3', check: (c) => c.messages.length === 0 },
  { path: '/hi', code: 4003, reason: 'exit 3', check: (c) => c.messages.length === 1 && c.messages[0] === 'hi' },
  { path: '/err', code: 4005, reason: 'exit 5', check: (c) => c.messages.length === 2 },
  {
    path: '/mib',
    code: 4007,
    reason: 'exit 7',
    check: (c) => {
      const all = Buffer.concat(c.messages.map((m) => Buffer.isBuffer(m) ? m : Buffer.from(m)))
      return all.length === MIB && all.every((b) => b === 0x78)
    }
  }
]

async function run (url: string, c: Case): Promise<string | undefined> {
  const client = connect(`${url}${c.path}`)
  const closed = await client.closed
  if (closed.code !== c.code || closed.reason !== c.reason) return `${c.path}: closed ${closed.code} ${closed.reason}`
  if (!c.check(client)) return `${c.path}: ${client.messages.length} messages ${JSON.stringify(client.messages.slice(0, 3)).slice(0, 200)}`
  return undefined
}

t.test('programs that exit at once, 200 sessions one after another: byte-exact, the right close', async (t) => {
  const s = await startServer(t, ROUTES)
  const failures: string[] = []
  for (let i = 0; i < 200; i++) {
    const failure = await run(s.url, CASES[i % CASES.length] as Case)
    if (failure !== undefined) failures.push(failure)
  }
  t.same(failures, [], 'every session had all its output and its exit status')
  await until(() => s.app.wsexec.sessions.size === 0, 'the last session to end')
  t.pass('no session left')
})

t.test('programs that exit at once, 200 sessions at the same time: byte-exact, the right close', async (t) => {
  const s = await startServer(t, ROUTES)
  const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => run(s.url, CASES[i % CASES.length] as Case)))
  t.same(results.filter((r) => r !== undefined), [], 'every session had all its output and its exit status')
})
