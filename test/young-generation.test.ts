import { execFile } from 'node:child_process'
import { PerformanceObserver } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { GROWTH_FLAG, limitYoungGeneration, MAX_SEMI_SPACE_MIB, newSpaceBytes } from '../src/young-generation.js'

const run = promisify(execFile)
const fixture = fileURLToPath(new URL('fixtures/young-generation.mjs', import.meta.url))
const moduleUrl = pathToFileURL(fileURLToPath(new URL('../src/young-generation.ts', import.meta.url))).href
const capBytes = 2 * MAX_SEMI_SPACE_MIB * 1024 * 1024

// Plain node with no heap flags, as `node dist/bin.js` runs: only tap's TypeScript loader, and without
// tap's coverage recorder and mock loader (under which the new space grew past the limit).
const execArgv = process.execArgv.filter((a) => !a.includes('processinfo') && !a.includes('@tapjs/mock') && a !== '--enable-source-maps')
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('_TAPJS_PROCESSINFO')))

async function newSpaceAfterWork (mode: 'on' | 'off'): Promise<number> {
  const { stdout } = await run(process.execPath, [...execArgv, fixture, moduleUrl, mode], { timeout: 120_000, env })
  return Number(stdout)
}

t.test(`V8 still grows the new space past the cap by default, and ${GROWTH_FLAG} still stops it`, async (t) => {
  // Two children allocate 3 million objects each: generous on a loaded 2-core machine.
  t.setTimeout(300_000)
  const [off, on] = await Promise.all([newSpaceAfterWork('off'), newSpaceAfterWork('on')])
  t.ok(off > capBytes, `without the limit the new space grows past ${capBytes} bytes (got ${off}): else this test proves nothing`)
  t.ok(on > 0, 'V8 reports the new space')
  t.ok(on <= capBytes, `with the limit it stays within ${capBytes} bytes (got ${on})`)
})

t.test('limitYoungGeneration checks its argument and can be stopped', async (t) => {
  t.throws(() => limitYoungGeneration(0), /maxSemiSpaceMiB must be a positive integer, got 0/)
  t.throws(() => limitYoungGeneration(Number.NaN), TypeError)
  const stop = limitYoungGeneration()
  t.type(stop, 'function')
  stop()
  const tiny = limitYoungGeneration(1)
  t.teardown(tiny)
  t.ok(newSpaceBytes() > 0)
})

t.test('after each GC the limit looks again, and leaves the flag alone while nothing changed', async (t) => {
  const stop = limitYoungGeneration(1024)
  t.teardown(stop)
  // Make garbage until this process has collected at least twice (the limit's observer runs on each).
  const seen = { collections: 0 }
  const observer = new PerformanceObserver((list) => { seen.collections += list.getEntries().length })
  observer.observe({ entryTypes: ['gc'] })
  t.teardown(() => observer.disconnect())
  let junk: Array<{ n: number }> = []
  for (let round = 0; seen.collections < 2 && round < 100_000; round++) {
    for (let i = 0; i < 10_000; i++) junk.push({ n: i })
    junk = []
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(seen.collections >= 2, `the process collected garbage (${seen.collections} times)`)
  t.ok(newSpaceBytes() * 2 <= 2 * 1024 * 1024 * 1024, 'far below a 1 GiB cap: growth stays allowed')
})
