import { realpath } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/load.js'
import { splitUrl } from '../url.js'

/**
 * Folder of wsexec's own browser files (console page, client module). The same relative path
 * works from `src/browser/` and from `dist/browser/`, where `npm run build` copies `src/public`.
 */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))

/** URL prefix of wsexec's own browser files, such as `/_wsexec/client.js`. */
export const ASSET_PREFIX = '/_wsexec/'

const requireFrom = createRequire(import.meta.url)
const XTERM_DIR = dirname(requireFrom.resolve('@xterm/xterm/package.json'))
const FIT_DIR = dirname(requireFrom.resolve('@xterm/addon-fit/package.json'))

/** The terminal widget's files, served from the installed packages under `/_wsexec/vendor/` (no CDN). */
export const VENDOR_FILES: Readonly<Record<string, string>> = Object.freeze({
  '/_wsexec/vendor/xterm.mjs': join(XTERM_DIR, 'lib', 'xterm.mjs'),
  '/_wsexec/vendor/xterm.css': join(XTERM_DIR, 'css', 'xterm.css'),
  '/_wsexec/vendor/addon-fit.mjs': join(FIT_DIR, 'lib', 'addon-fit.mjs')
})

/** URL path of the AsyncAPI document. */
export const ASYNCAPI_PATH = '/asyncapi.json'

/**
 * Answers a plain GET (never an upgrade) on the catch-all route; `routeMatched` tells whether a
 * route claims the path. Returns false when nothing here serves it.
 */
export type BrowserAnswer = (request: FastifyRequest, reply: FastifyReply, routeMatched: boolean) => boolean

// Scripts come from this origin only; sessions connect back to it. The terminal widget (xterm.js)
// writes its own <style> elements (cell sizes, colours): inline styles are allowed, scripts are not.
const CONSOLE_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Every other file: only pages of this origin may frame it (clickjacking), and no browser guesses a
// type other than the one sent (an uploaded .txt run as a script).
const FILES_CSP = "frame-ancestors 'self'"

/**
 * Registers @fastify/static (without routes of its own: the catch-all dispatches, so routes
 * always win) and returns what answers plain GETs: the console at `/` when `config.console`,
 * then, on paths no route claims, `/_wsexec/*`, `/asyncapi.json` and the static files; each with
 * `X-Content-Type-Options: nosniff` and a `frame-ancestors` policy.
 */
export async function registerBrowser (app: FastifyInstance, config: Config): Promise<BrowserAnswer> {
  await app.register(fastifyStatic, { root: PUBLIC_DIR, serve: false, index: ['index.html'] })
  const files = config.static
  return (request, reply, routeMatched) => {
    // The router has percent-decoded the path (and answered 400 to a malformed one).
    const pathname = `/${(request.params as { '*': string })['*']}`
    // The console owns plain GETs on / even when a route at / owns the upgrades there.
    if (pathname === '/' && config.console) {
      reply.header('x-content-type-options', 'nosniff').header('content-security-policy', CONSOLE_CSP)
      reply.sendFile('console.html', PUBLIC_DIR)
      return true
    }
    if (routeMatched) return false
    reply.header('x-content-type-options', 'nosniff').header('content-security-policy', FILES_CSP)
    if (pathname === ASYNCAPI_PATH) {
      // Loaded with the first request for it: most servers are never asked.
      // A failure still answers (500), as a throw in a handler would.
      import('../asyncapi.js').then(({ asyncapiDocument }) => {
        reply.send(asyncapiDocument(app.wsexec.config, { host: request.host, secure: request.protocol === 'https' }))
      }).catch(reply.send.bind(reply))
      return true
    }
    const vendor = VENDOR_FILES[pathname]
    if (vendor !== undefined) {
      reply.sendFile(vendor.slice(dirname(vendor).length + 1), dirname(vendor))
      return true
    }
    // @fastify/static refuses `..` and other non-canonical paths with 403.
    if (pathname.startsWith(ASSET_PREFIX)) {
      reply.sendFile(pathname.slice(ASSET_PREFIX.length - 1), PUBLIC_DIR)
      return true
    }
    if (files === undefined) return false
    if (`${pathname}/` === files.prefix) {
      const { query } = splitUrl(request.url)
      reply.redirect(files.prefix + (query === undefined ? '' : `?${query}`), 301)
      return true
    }
    if (!pathname.startsWith(files.prefix)) return false
    sendStatic(reply, pathname.slice(files.prefix.length - 1), files.dir)
    return true
  }
}

/** Whether `file`, inside `dir` by its name, resolves through symlinks to somewhere outside it. */
async function leadsOutside (dir: string, file: string): Promise<boolean> {
  const [inside, real] = await Promise.allSettled([realpath(dir), realpath(file)])
  // A file that does not exist is left to @fastify/static, which answers 404.
  if (real.status === 'rejected') return false
  return inside.status === 'rejected' || (real.value !== inside.value && !real.value.startsWith(inside.value + sep))
}

/**
 * Sends `path` (URL form, from `/`) from `dir`: dotfiles (any segment starting with `.`) and
 * files whose symlinks resolve outside `dir` are not found (404).
 */
function sendStatic (reply: FastifyReply, path: string, dir: string): void {
  // A folder is served as its index.html: that file must stay inside too. A path that leaves
  // `dir` by its name (`..`) is refused by @fastify/static with 403.
  const file = join(dir, path.endsWith('/') ? `${path}index.html` : path)
  // leadsOutside never rejects, and neither callNotFound nor sendFile throws (they answer errors).
  const check = file.startsWith(dir + sep) ? leadsOutside(dir, file) : Promise.resolve(false)
  check.then((outside) => {
    if (outside) reply.callNotFound()
    else reply.sendFile(path, dir, { dotfiles: 'ignore' })
  })
}
