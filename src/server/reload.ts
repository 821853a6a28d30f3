import { watch, type FSWatcher } from 'node:fs'
import type { Server as HttpsServer } from 'node:https'
import { basename, dirname, resolve } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Config, LoadedConfig } from '../config/model.js'
import type { TlsSpec } from '../config/security.js'
import { largestMessage, type ServerState } from './state.js'
import type { ConnectionCap } from './connection-cap.js'

/** How long file events are gathered before one reload (editors write in several steps), in ms. */
export const WATCH_SETTLE_MS = 100

/** Gathers a burst of file events into one `onChange` call, {@link WATCH_SETTLE_MS} after the last; ended with the watcher. */
function settled (onChange: () => void): { fire: () => void, cancel: () => void } {
  let timer: NodeJS.Timeout | undefined
  return {
    fire: () => {
      clearTimeout(timer)
      timer = setTimeout(onChange, WATCH_SETTLE_MS)
    },
    cancel: () => clearTimeout(timer)
  }
}

/**
 * Calls `onChange` once shortly after `file` changes. The folder is watched, not the file, so
 * editors that save by writing a new file and renaming it are seen too. Returns the watcher.
 */
export function watchFile (file: string, onChange: () => void): FSWatcher {
  const path = resolve(file)
  const name = basename(path)
  const change = settled(onChange)
  const watcher = watch(dirname(path), (_event, which) => { if (which === name) change.fire() })
  return watcher.on('close', change.cancel)
}

/**
 * Calls `onChange` once shortly after anything under `dir` changes (`--dir`: scripts added,
 * changed or removed after start-up are served or dropped, as websocketd finds each request's
 * file when it comes). Returns the watcher.
 */
export function watchFolder (dir: string, onChange: () => void): FSWatcher {
  const change = settled(onChange)
  return watch(dir, { recursive: true }, change.fire).on('close', change.cancel)
}

/** How the server speaks: plain, TLS, or TLS that requires client certificates. */
function tlsMode (tls: TlsSpec | null): string {
  if (tls === null) return 'off'
  return tls.ca === undefined ? 'on' : 'client certificates'
}

/**
 * The server-wide settings, by their key in the file, that differ between the configuration the
 * server was built with and `next` and that only a restart applies: what the HTTP server and its
 * endpoints were made with. `listen` is the command's business (it listens), and everything else
 * (routes, limits, ping interval, drain timeout, TLS certificate files) a reload applies.
 */
export function restartKeys (built: Config, next: Config): string[] {
  const files = (c: Config): unknown => c.static === undefined ? undefined : { dir: c.static.dir, prefix: c.static.prefix }
  // What is in effect: a disabled endpoint's path, or a host without a port of its own, is not.
  const endpoint = (c: Config): unknown => {
    const { enabled, path, port, host } = c.metrics
    if (!enabled) return false
    return port === undefined ? { path } : { path, port, host }
  }
  const a = built.security
  const b = next.security
  const settings: Array<[string, unknown, unknown]> = [
    ['tls', tlsMode(a.tls), tlsMode(b.tls)],
    ['trustProxy', a.trustProxy, b.trustProxy],
    ['handshakeTimeout', a.handshakeTimeoutMs, b.handshakeTimeoutMs],
    ['maxHeaderBytes', a.maxHeaderBytes, b.maxHeaderBytes],
    ['health', built.health, next.health],
    ['metrics', endpoint(built), endpoint(next)],
    ['console', built.console, next.console],
    ['spawners', built.spawners, next.spawners],
    ['static', files(built), files(next)]
  ]
  return settings.filter(([, x, y]) => !isDeepStrictEqual(x, y)).map(([key]) => key)
}

/**
 * What `app.wsexec.reload(config)` does for a server built with `built`: new sessions get
 * `config`'s routes and limits; a renewed TLS certificate (same TLS mode) takes effect for new
 * handshakes; settings only a restart applies are logged as such.
 */
export function reloader (app: FastifyInstance, state: ServerState, built: LoadedConfig): (config: LoadedConfig) => void {
  /** The certificate, key and CA new TLS handshakes use. */
  let pem = built.security.tls?.pem ?? null
  return (config) => {
    state.routing = state.compile(config)
    ;(state.connections as ConnectionCap).max = state.applyLimits(config).maxConnections
    app.server.keepAliveTimeout = config.security.keepAliveTimeoutMs
    app.websocketServer.options.maxPayload = largestMessage(config)
    app.log.info({ routes: config.routes.length, source: config.source }, 'configuration reloaded')
    const keys = restartKeys(built, config)
    // The files are read again: a renewed certificate needs no restart. A new TLS mode does, and
    // until then the files stay as they are (a server that asks for client certificates keeps its CA).
    const next = config.security.tls?.pem ?? null
    if (pem !== null && next !== null && !keys.includes('tls') && !isDeepStrictEqual(pem, next)) {
      pem = next
      const server = app.server as HttpsServer
      server.setSecureContext(pem)
      app.log.info({ cert: (config.security.tls as TlsSpec).cert }, 'TLS certificate reloaded')
    }
    if (keys.length > 0) app.log.warn({ keys }, 'restart to apply these settings')
  }
}
