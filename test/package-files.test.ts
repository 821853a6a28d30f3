// What `npm pack` ships: every file a package.json script of the packed package runs is in it.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { root } from './helpers/cli.js'

t.test('the packed package holds every script its package.json runs, and no sources', async (t) => {
  // --ignore-scripts: the listing only, no prepare (the suite has built dist/ already).
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, timeout: 120_000 })
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>
  const files = new Set((pack as { files: Array<{ path: string }> }).files.map((f) => f.path))
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
  for (const name of ['prepare', 'prestart', 'start']) {
    const script = manifest.scripts[name] as string
    for (const file of script.match(/\b(?:scripts|dist)\/[\w./-]+\.m?js\b/g) ?? []) t.ok(files.has(file), `${name}: ${file} is packed`)
  }
  t.ok(files.has('dist/bin.js'), 'the command is packed')
  t.notOk([...files].some((f) => f.startsWith('src/')), 'no sources: build-if-stale.mjs then has nothing to build')
})
