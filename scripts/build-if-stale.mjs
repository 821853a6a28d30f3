// Builds dist/ only when a source is newer than the last build, so that `npm start` and
// `npm ci` (prepare) do not spend tens of seconds on tsc when nothing changed.
// The build's last output, the bundled command, stands for the whole build (a failed bundle
// removes it).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist/bin.js')

function newest (path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))))
}

// A packed package ships dist/ and no sources (its prepare and prestart scripts come here): nothing to build.
if (!existsSync(join(root, 'src'))) process.exit(0)

const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0
const sources = Math.max(...['src', 'scripts/bundle.mjs', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => newest(join(root, p))))
if (sources > built) {
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  process.exitCode = result.status ?? 1
}
