import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { missingMessage } from './debian.js'

/** Debian's Chromium, which .ci/run installs. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Headless, no sandbox (containers), and nothing that reaches the network by itself. */
export const CHROMIUM_ARGS = Object.freeze([
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'
])

/** Every wait in the browser tests ends by this deadline (ms). */
export const BROWSER_DEADLINE_MS = 10_000

/** Where the browser tests save screenshots (git-ignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../.tap/artifacts/', import.meta.url))

interface Closable { teardown (fn: () => unknown): void }

/** Launches the one Chromium of a test file and closes it when the test ends. */
export async function launchChromium (t: Closable): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(missingMessage('chromium'))
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], timeout: 30_000 })
  t.teardown(() => browser.close())
  await mkdir(ARTIFACTS_DIR, { recursive: true })
  return browser
}
