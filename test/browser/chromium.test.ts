import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { BrowserContext, Page } from 'playwright-core'
import { main } from '../../src/cli/main.js'
import { OUTPUT_HIGH_WATER_BYTES } from '../../src/session/connection.js'
import type { Session } from '../../src/session/session.js'
import { DEADLINE_MS, until } from '../helpers/client.js'
import { bufferedBytes, watchFlow } from '../helpers/flow.js'
import { ARTIFACTS_DIR, BROWSER_DEADLINE_MS, launchChromium } from '../helpers/chromium.js'
import { fixture, node, startServer, type LogRecord } from '../helpers/server.js'

/** What describeClose returns (src/public/client.js). */
interface Ending { code: number, reason: string, exitCode: number | null, signal: string | null, spawnError: string | null, ok: boolean, text: string }

/** The page API of test/fixtures/www/reader.js; the code in page.evaluate runs in Chromium. */
declare const window: {
  WebSocketStream?: unknown
  reader: {
    describeClose (code: number, reason: string): Ending
    start (path: string, options?: Record<string, unknown>): Promise<string>
    read (count: number): Promise<string[]>
    send (data: string | Uint8Array): Promise<void>
    close (reason?: string): void
    ending (): Promise<Ending>
  }
}

const root = fileURLToPath(new URL('../..', import.meta.url))
const browser = await launchChromium(t)

/** A fresh browser context (closed when the test ends) and a page with bounded waits; `errors` collects the page's uncaught errors. */
async function newPage (t: Test, init?: () => void): Promise<{ page: Page, errors: string[] }> {
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1100, height: 820 } })
  t.teardown(() => context.close())
  if (init !== undefined) await context.addInitScript(init)
  const page = await context.newPage()
  page.setDefaultTimeout(BROWSER_DEADLINE_MS)
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  return { page, errors }
}

/** Runs `wsexec ...argv` from the project folder until the test ends; resolves to its URL. */
async function serve (t: Test, argv: string[]): Promise<string> {
  const stop = new AbortController()
  let listening!: (url: string) => void
  const listened = new Promise<string>((resolve) => { listening = resolve })
  const stdout = new PassThrough()
  stdout.resume()
  const done = main([...argv, '--port', '0', '--log-level', 'warn'], { stdout, stderr: stdout, env: { PATH: process.env['PATH'] }, cwd: root, stop: stop.signal, onListening: listening })
  t.teardown(async () => { stop.abort(); await done })
  return listened
}

t.test('the console (wsexec --console): a bc session computes, shows stderr, and the exit status in words', async (t) => {
  const url = await serve(t, ['--console'])

  const { page, errors } = await newPage(t)
  await page.goto(url)
  await t.resolveMatch(page.getByRole('heading', { level: 1 }).textContent(), 'wsexec console')
  await page.getByRole('list').filter({ hasText: '/count/:n' }).waitFor()
  await page.getByLabel('Route', { exact: true }).selectOption('/bc')
  await page.getByRole('button', { name: 'Open' }).click()
  await page.getByText('over WebSocketStream').waitFor()
  const line = page.getByLabel('Line to send')
  for (const input of ['scale=20; 4*a(1)', '2^64', '1/0']) {
    await line.fill(input)
    await line.press('Enter')
  }
  const output = page.getByRole('list', { name: 'Output' })
  await output.getByText('18446744073709551616').waitFor()
  await output.getByText('3.14159265358979323844').waitFor()
  await output.locator('.stderr', { hasText: 'Divide by zero' }).waitFor()
  await line.fill('quit')
  await line.press('Enter')
  const status = page.getByRole('status')
  await status.getByText('the program exited successfully (status 0)').waitFor()
  t.match(await status.innerText(), /Close code\s+1000\s+Reason\s+exit 0/)
  const shot = join(ARTIFACTS_DIR, 'console-bc.png')
  await page.screenshot({ path: shot, fullPage: true })
  // UPDATE_SCREENSHOT=1 refreshes the README's picture.
  if (process.env['UPDATE_SCREENSHOT'] === '1') await copyFile(shot, join(root, 'config', 'console.png'))

  await page.getByLabel('Route', { exact: true }).selectOption('/count/:n')
  const n = page.getByLabel(':n')
  await n.fill('12')
  await page.getByRole('button', { name: 'Open' }).click()
  await status.getByText('the program exited successfully').waitFor()
  t.equal(await output.getByRole('listitem').count(), 12)
  await n.fill('nope')
  await page.getByRole('button', { name: 'Open' }).click()
  await page.getByText(/cannot open .*\/count\/nope/).waitFor()
  await page.screenshot({ path: join(ARTIFACTS_DIR, 'console-refused.png'), fullPage: true })
  t.same(errors, [], 'no error in the page')
})

t.test('the console\'s terminal (xterm.js, served from the package) runs the shell example; its size follows the window', async (t) => {
  const url = await serve(t, ['-c', 'test/fixtures/terminal.yaml'])
  const { page, errors } = await newPage(t)
  const external: string[] = []
  page.on('request', (request) => { if (!request.url().startsWith(url)) external.push(request.url()) })
  await page.goto(url)
  await page.getByRole('list').filter({ hasText: '/shell' }).waitFor()
  await page.getByRole('button', { name: 'Open' }).click()
  const screen = page.locator('#terminal .xterm-rows')
  await screen.getByText('$').first().waitFor()
  t.equal(await page.locator('label[for="line"]').isVisible(), false, 'no "Line to send" on a terminal route')
  await page.locator('#terminal').click()
  await page.keyboard.type('echo $((6 * 7)); stty size')
  await page.keyboard.press('Enter')
  const size = async (accept: (size: [number, number]) => boolean): Promise<[number, number]> => {
    let found: [number, number] | undefined
    await until(async () => {
      const sizes = [...(await screen.innerText()).matchAll(/^(\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as [number, number])
      found = sizes.find(accept)
      return found !== undefined
    }, 'stty size on the terminal').catch(async (err: Error) => {
      await page.screenshot({ path: join(ARTIFACTS_DIR, 'console-terminal-failed.png'), fullPage: true })
      throw new Error(`${err.message}: ${JSON.stringify(await screen.innerText())}`)
    })
    return found as [number, number]
  }
  await screen.getByText('42').waitFor()
  const [rows, cols] = await size(() => true)
  t.ok(cols > 80 && rows > 10, `the terminal fills the page: ${cols}x${rows}`)
  await page.setViewportSize({ width: 640, height: 600 })
  await page.keyboard.type('stty size')
  await page.keyboard.press('Enter')
  const [rows2, cols2] = await size(([, c]) => c !== cols)
  t.ok(cols2 < cols && rows2 < rows, `stty size follows the window: ${cols2}x${rows2}`)
  await page.screenshot({ path: join(ARTIFACTS_DIR, 'console-terminal.png'), fullPage: true })
  await page.keyboard.type('exit 5')
  await page.keyboard.press('Enter')
  await page.getByRole('status').getByText('status 5').waitFor()
  t.same(external, [], 'nothing loaded from another origin (no CDN)')
  t.same(errors, [], 'no error in the page')
})

t.test('the example front end (config/browser.yaml) uses the client module', async (t) => {
  const url = await serve(t, ['-c', 'config/browser.yaml'])
  const { page, errors } = await newPage(t)
  await page.goto(`${url}/app`)
  await page.getByRole('button', { name: 'Compute' }).click()
  await page.getByRole('status').getByText('the program exited successfully (status 0) (close code 1000, over websocketstream)').waitFor()
  t.equal(await page.locator('output').textContent(), '3.14159265358979323844\n')
  await page.getByLabel('Expression').fill('1/0')
  await page.getByRole('button', { name: 'Compute' }).click()
  await page.locator('output', { hasText: 'error: Runtime error' }).waitFor()
  await page.screenshot({ path: join(ARTIFACTS_DIR, 'example-app.png') })
  await page.goto(url)
  await page.getByRole('heading', { name: 'wsexec console' }).waitFor()
  t.same(errors, [], 'no error in the page')
})

/** The latest "wrote N" the flood fixture reported through the server's log. */
function written (logs: readonly LogRecord[]): number {
  for (let i = logs.length - 1; i >= 0; i--) {
    const m = /^wrote (\d+)$/.exec(String(logs[i]?.['stderr']))
    if (m !== null) return Number(m[1])
  }
  return 0
}

/** Waits until `read()` has not changed for `quietMs`, and returns it. */
async function settled (read: () => number, quietMs: number): Promise<number> {
  let value = read()
  let since = Date.now()
  await until(() => {
    const now = read()
    if (now !== value) {
      value = now
      since = Date.now()
    }
    return Date.now() - since >= quietMs
  }, 'a steady value', DEADLINE_MS * 2)
  return value
}

t.test('client module over WebSocketStream: a slow page holds a fast producer back', async (t) => {
  const lineBytes = 1024
  const s = await startServer(t, `static: { dir: ${JSON.stringify(fixture('www'))} }
routes:
  /flood:
    command: ${node('flood.mjs', String(lineBytes))}
`)
  const { page, errors } = await newPage(t)
  await page.goto(`http://127.0.0.1:${s.port}/reader.html`)
  await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' })
  t.equal(await page.evaluate(() => window.reader.start('/flood')), 'websocketstream')
  const first = await page.evaluate(() => window.reader.read(10))
  t.same(first.map((l) => l.split(' ')[0]), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])

  // The page reads no more: the producer must come to a stop, with bounded memory on the way.
  await until(() => s.app.wsexec.sessions.size === 1, 'the session')
  const session = [...s.app.wsexec.sessions][0] as Session
  const stalled = await settled(() => written(s.logs), 500)
  const inFlightBytes = (stalled - 10) * lineBytes
  t.ok(stalled > 10, `the producer wrote ${stalled} lines`)
  t.ok(inFlightBytes < 32 * 1024 * 1024, `held back: ${Math.round(inFlightBytes / 1024)} KiB between the producer and the page`)
  const { toClient } = await bufferedBytes(s.app)
  t.ok(toClient < OUTPUT_HIGH_WATER_BYTES + 128 * 1024, `the server holds ${toClient} bytes`)

  // Reading again lets it go on, in order and without loss.
  const resumed = watchFlow(t).next('output-resumed', session.id)
  const more = await page.evaluate((count) => window.reader.read(count), stalled + 2000)
  await resumed
  t.same(more.map((l) => Number(l.split(' ')[0])), Array.from({ length: stalled + 2000 }, (_, i) => i + 10), 'every line, in order')
  t.ok(written(s.logs) > stalled, 'the producer went on')
  await page.evaluate(() => window.reader.close('enough'))
  t.match(await page.evaluate(() => window.reader.ending()), { code: 1000, exitCode: null, text: 'the session was closed normally' })
  t.match(await session.done, { closedBy: 'client', signal: 'SIGTERM' })
  t.same(errors, [], 'no error in the page')
})

t.test('client module over WebSocket when WebSocketStream is missing; exit status as a value', async (t) => {
  const s = await startServer(t, `static: { dir: ${JSON.stringify(fixture('www'))}, prefix: /app }
routes:
  /count/:n:
    command: [seq, "1", "{n}"]
    params: { n: "^[0-9]{1,6}$" }
  /echo:
    command: [cat]
  /raw:
    command: [cat]
    mode: binary
  /exit3:
    command: ${node('exit.mjs')}
    env: { WSEXEC_TEST_EXIT: "3" }
  /kill:
    command: ${node('signal.mjs', 'SIGKILL')}
`)
  for (const transport of ['websocket', 'websocketstream'] as const) {
    const { page, errors } = await newPage(t, transport === 'websocket' ? () => { delete window.WebSocketStream } : undefined)
    await page.goto(`http://127.0.0.1:${s.port}/app/reader.html`)
    await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' })
    t.equal(await page.evaluate(() => typeof window.WebSocketStream), transport === 'websocket' ? 'undefined' : 'function')

    // Read as soon as the session opens: Chromium's WebSocketStream can drop messages still queued
    // inside the browser when the server's close frame arrives before the page starts reading.
    const { opened, lines } = await page.evaluate(async () => {
      const opened = await window.reader.start('/count/:n', { params: { n: 3000 }, query: { from: 'test' } })
      return { opened, lines: await window.reader.read(5000) }
    })
    t.equal(opened, transport)
    t.equal(lines.length, 3000, `${transport}: every line`)
    t.equal(lines[2999], '3000')
    t.match(await page.evaluate(() => window.reader.ending()), { code: 1000, reason: 'exit 0', exitCode: 0, ok: true })

    await page.evaluate(() => window.reader.start('/echo'))
    const big = 'x'.repeat(200_000)
    await page.evaluate(async (big) => { for (let i = 0; i < 20; i++) await window.reader.send(`${i} ${big}`) }, big)
    t.same((await page.evaluate(() => window.reader.read(20))).map((l) => l.slice(0, 3)), Array.from({ length: 20 }, (_, i) => `${i} x`.slice(0, 3)), `${transport}: sent with backpressure`)
    await page.evaluate(() => window.reader.close())

    await page.evaluate(() => window.reader.start('/raw'))
    await page.evaluate(() => window.reader.send(new Uint8Array([0, 1, 2, 255])))
    t.same(await page.evaluate(() => window.reader.read(1)), ['binary:4'], `${transport}: binary chunks`)
    await page.evaluate(() => window.reader.close())

    await page.evaluate(() => window.reader.start('/exit3'))
    t.match(await page.evaluate(() => window.reader.ending()), { code: 4003, exitCode: 3, signal: null, ok: false, text: 'the program failed with exit status 3' })
    await page.evaluate(() => window.reader.start('/kill'))
    t.match(await page.evaluate(() => window.reader.ending()), { code: 4137, exitCode: null, signal: 'SIGKILL', text: 'the program was killed by SIGKILL (signal 9)' })
    await t.rejects(page.evaluate(() => window.reader.start('/count/abc')), /cannot open ws:\/\/127\.0\.0\.1:\d+\/count\/abc: refused or unreachable/)
    t.same(errors, [], 'no error in the page')
  }
})

t.test('describeClose reads every close code wsexec sends', async (t) => {
  const s = await startServer(t, `static: { dir: ${JSON.stringify(fixture('www'))} }\nroutes:\n  /x:\n    command: [cat]\n`)
  const { page, errors } = await newPage(t)
  await page.goto(`http://127.0.0.1:${s.port}/reader.html`)
  await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' })
  const cases: Array<[number, string]> = [[1000, 'exit 0'], [1000, ''], [4129, 'exit 129'], [4129, 'signal SIGHUP'], [4200, ''],
    [1011, 'spawn failed: ENOENT'], [1011, 'boom'], [1001, 'server shutting down'], [1006, ''], [1009, 'Max payload size exceeded'], [3000, ''], [3001, 'why']]
  const texts = await page.evaluate((cases) => cases.map(([code, reason]) => window.reader.describeClose(code, reason)), cases)
  t.same(texts.map((e) => [e.exitCode, e.signal, e.spawnError, e.text]), [
    [0, null, null, 'the program exited successfully (status 0)'],
    [null, null, null, 'the session was closed normally'],
    [129, null, null, 'the program failed with exit status 129'],
    [null, 'SIGHUP', null, 'the program was killed by SIGHUP (signal 1)'],
    [null, null, null, 'closed with code 4200'],
    [null, null, 'ENOENT', 'the program could not be started (ENOENT)'],
    [null, null, null, 'the session failed in the server: boom'],
    [null, null, null, 'the server is shutting down'],
    [null, null, null, 'the connection was lost without a close frame'],
    [null, null, null, 'the server refused a message: Max payload size exceeded'],
    [null, null, null, 'closed with code 3000'],
    [null, null, null, 'closed with code 3001: why']
  ])
  t.same(errors, [], 'no error in the page')
})
