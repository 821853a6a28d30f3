import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { toBytes } from '../../src/config/size.js'
import { ConfigError } from '../../src/errors.js'

// The share and resume blocks of a route (issue 25).

function problems (yaml: string): string[] {
  try {
    parseConfig(yaml, 'routes.yaml', '/srv/app')
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1)
    throw err
  }
  throw new Error('the configuration was accepted')
}

t.test('share and resume are normalised with their defaults', async (t) => {
  const config = parseConfig(`routes:
  /logs/:app:
    command: [tail, -n, "0", -F, "/var/log/{app}.log"]
    params: { app: "^[a-z]{1,20}$" }
    share:
      input: none
      replay: 64KiB
      linger: 0s
      maxLag: 1MiB
  /a:
    command: [cat]
    share: {}
  /shell:
    command: [bash, -l]
    tty: true
    resume:
      window: 60s
      buffer: 1MiB
  /b:
    command: [cat]
    resume: {}
  /c:
    command: [cat]
`, 'routes.yaml', '/srv/app')
  const [logs, a, shell, b, c] = config.routes
  t.same(logs?.share, { input: 'none', replayBytes: 65536, lingerMs: 0, maxLagBytes: 1048576 })
  t.same(a?.share, { input: 'none', replayBytes: 0, lingerMs: 0, maxLagBytes: 1048576 })
  t.same(shell?.resume, { windowMs: 60000, bufferBytes: 1048576 })
  t.same(b?.resume, { windowMs: 60000, bufferBytes: 1048576 })
  t.equal(c?.share, null)
  t.equal(c?.resume, null)
  t.ok(Object.isFrozen(logs?.share))
})

t.test('bad share and resume blocks name file, line, column and key', async (t) => {
  t.same(problems('routes:\n  /a:\n    command: [cat]\n    share: { input: some }\n'), ['routes.yaml:4:21: routes./a.share.input: must be one of none, first, all'])
  t.same(problems('routes:\n  /a:\n    command: [cat]\n    share: { replay: 64 KiB }\n'), ['routes.yaml:4:22: routes./a.share.replay: must be a size such as 64KiB, 512MiB, 100MB, or a number of bytes'])
  t.same(problems('routes:\n  /a:\n    command: [cat]\n    protocols: [plain, v5.channel.k8s.io]\n    share: {}\n'), ['routes.yaml:5:5: routes./a.share: a shared program speaks the plain protocol only: share needs protocols: [plain]'])
  t.same(problems('routes:\n  /a:\n    command: [cat]\n    protocols: [v5.channel.k8s.io]\n    resume: {}\n'), ['routes.yaml:5:5: routes./a.resume: a route has either resume or the channel protocols: resume needs protocols: [plain]'])
  t.same(problems('routes:\n  /a:\n    command: [cat]\n    share: {}\n    resume: {}\n'), ['routes.yaml:5:5: routes./a.resume: a shared program outlives its clients already: a route has either share or resume'])
})

t.test('sizes', async (t) => {
  t.equal(toBytes(10), 10)
  t.equal(toBytes('512B'), 512)
  t.equal(toBytes('64KiB'), 65536)
  t.equal(toBytes('1.5kB'), 1500)
  t.equal(toBytes('2MB'), 2e6)
  t.equal(toBytes('1GiB'), 1024 ** 3)
  t.throws(() => toBytes('1 KiB'), /Invalid size: "1 KiB"/)
  t.throws(() => toBytes(-1), TypeError)
})
