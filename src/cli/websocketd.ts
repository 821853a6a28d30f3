import { readdirSync, realpathSync, statSync, accessSync, constants } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { stringify } from 'yaml'
import type { ConfigInput, RouteInput } from '../config/schema.js'
import { UsageError, type Options } from './args.js'

/** What building routes from the command line found worth telling the user. */
export interface Built {
  readonly input: ConfigInput
  /** One line each: flags accepted but meaning nothing here, files left out of `--dir`. */
  readonly notes: readonly string[]
}

/** `input` as the text of a routes file (YAML), for `--print-config`. */
export function routesYaml (input: ConfigInput): string {
  return stringify(input)
}

/**
 * The routes file equivalent to a websocketd-style command line: a COMMAND served at every
 * path (the rest in PATH_INFO), or each executable file under `--dir` at its path; websocketd's
 * options become the matching settings.
 * @throws {UsageError} when `--dir` is not a readable folder.
 */
export function buildConfigInput (options: Options, cwd: string): Built {
  const w = options.websocketd
  const notes: string[] = []
  const route = (command: string[]): RouteInput => {
    const r: RouteInput = { command, pathInfo: true }
    if (w.binary) r.mode = 'binary'
    if (w.passstderr) r.stderr = 'tagged'
    if (w.maxframesize !== undefined) r.maxMessageBytes = w.maxframesize
    if (w.passenv !== undefined) r.passEnv = [...w.passenv]
    if (w.closems !== undefined) {
      if (w.closems === 0) notes.push('--closems=0: wsexec always ends the program after the client leaves; the default grace of 1s applies')
      else r.closeGrace = `${w.closems}ms`
    }
    return r
  }
  const routes: Record<string, RouteInput> = {}
  if (w.dir !== undefined) {
    const root = resolve(cwd, w.dir)
    for (const file of executables(root, notes)) routes[`/${relative(root, file).split(sep).join('/')}`] = route([file])
    if (Object.keys(routes).length === 0) throw new UsageError(`--dir ${w.dir}: no executable files in ${root}`)
  } else {
    routes['/'] = route(options.command)
  }
  const input: ConfigInput = { routes }
  if (options.hosts.length > 0 || options.port !== undefined) {
    input.listen = {}
    if (options.hosts[0] !== undefined) input.listen.host = options.hosts[0]
    if (options.port !== undefined) input.listen.port = options.port
  }
  if (options.console) input.console = true
  if (w.staticdir !== undefined) input.static = { dir: resolve(cwd, w.staticdir) }
  // 0 is no limit, in websocketd and in wsexec's maxSessions alike.
  if (w.maxforks !== undefined) input.maxSessions = w.maxforks
  if (w.origin !== undefined) {
    // websocketd matches host[:port] whatever the scheme; wsexec's origins carry the scheme.
    input.origins = w.origin.flatMap((o) => [`http://${o}`, `https://${o}`])
    input.requireOrigin = true
  }
  if (w.sameorigin) input.requireOrigin = true
  if (w.ssl !== undefined) {
    input.tls = { cert: resolve(cwd, w.ssl.cert), key: resolve(cwd, w.ssl.key) }
    if (w.ssl.ca !== undefined) input.tls.ca = resolve(cwd, w.ssl.ca)
  }
  if (w.pingms !== undefined) input.pingInterval = `${w.pingms}ms`
  const headers = Object.fromEntries(Object.entries(w.headers).filter(([, list]) => list.length > 0).map(([kind, list]) => [kind, Object.fromEntries(list.map((h) => {
    const colon = h.indexOf(':')
    return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()]
  }))]))
  if (Object.keys(headers).length > 0) input.headers = headers
  if (w.reverselookup) notes.push('--reverselookup is ignored: REMOTE_HOST is the client\'s address')
  return { input, notes }
}

/**
 * Every executable regular file under `root`, sorted, depth first; hidden entries are skipped as
 * websocketd cannot serve them either. A symlink is followed only when its target is inside the
 * folder's real path (as `static` requires); one that leads outside, or back to a folder above it
 * (a loop), is left out with a note.
 */
function executables (root: string, notes: string[]): string[] {
  let top: string
  try {
    top = realpathSync(root)
  } catch (err) {
    throw new UsageError(`--dir: cannot read ${root} (${(err as NodeJS.ErrnoException).code as string})`)
  }
  return walk(root, notes, top, new Set([top]))
}

/** The executables of `dir` (whose real path is the last of `ancestors`), the real paths of the folders above it and `top` the folder of --dir. */
function walk (dir: string, notes: string[], top: string, ancestors: ReadonlySet<string>): string[] {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch (err) {
    throw new UsageError(`--dir: cannot read ${dir} (${(err as NodeJS.ErrnoException).code as string})`)
  }
  const out: string[] = []
  for (const entry of entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))) {
    const path = join(dir, entry.name)
    if (entry.name.startsWith('.')) continue
    // Segments starting with ":" would be route parameters.
    if (entry.name.startsWith(':')) {
      notes.push(`--dir: ${path} is left out (a name starting with ":" cannot be a route path)`)
      continue
    }
    const real = realTarget(path, notes)
    if (real === undefined) continue
    if (real !== top && !real.startsWith(`${top}${sep}`)) {
      notes.push(`--dir: ${path} is left out (a symlink to ${real}, outside ${top})`)
      continue
    }
    const stat = statSync(real, { throwIfNoEntry: false })
    if (stat?.isDirectory() === true) {
      if (ancestors.has(real)) notes.push(`--dir: ${path} is left out (a symlink loop: it leads back to ${real})`)
      else out.push(...walk(path, notes, top, new Set([...ancestors, real])))
    } else if (stat?.isFile() === true && isExecutable(path)) {
      out.push(path)
    }
  }
  return out
}

/** The real path of an entry; undefined for a dangling symlink (skipped, as websocketd does) or a loop of symlinks (noted). */
function realTarget (path: string, notes: string[]): string | undefined {
  try {
    return realpathSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') notes.push(`--dir: ${path} is left out (a symlink loop)`)
    return undefined
  }
}

function isExecutable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}
