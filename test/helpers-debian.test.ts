import t from 'tap'
import { findProgram, needProgram } from './helpers/debian.js'

t.test('a missing program fails the test at once, naming the apt-get install line', async (t) => {
  const failures: string[] = []
  const fake = { fail: (message: string) => { failures.push(message); return false } } as unknown as Parameters<typeof needProgram>[0]
  t.equal(needProgram(fake, 'websocketd', '/nonexistent'), false)
  t.equal(needProgram(fake, 'no-such-tool', ':/nonexistent'), false)
  t.same(failures, [
    'websocketd is not installed: apt-get install -y --no-install-recommends websocketd (or run .ci/run, which installs what the tests use)',
    'no-such-tool is not installed: apt-get install -y --no-install-recommends no-such-tool (or run .ci/run, which installs what the tests use)'
  ])
  t.equal(needProgram(t, 'sh'), true)
  t.match(findProgram('sh'), /\/sh$/)
})
