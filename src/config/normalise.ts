import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import type { Config, Route } from './model.js'
import { routeContainment } from './containment.js'
import { toMs } from './duration.js'
import { toBytes } from './size.js'
import type { Position } from './positions.js'
import { DEFAULTS, type ConfigInput } from './schema.js'
import { defaultAuth, routeSecurity, serverSecurity } from './security.js'
import { SECURITY_DEFAULTS } from './security-schema.js'

/**
 * The configuration as the server uses it, from input the schema and the rules accepted:
 * defaults applied, durations in milliseconds, paths resolved against `baseDir`, frozen.
 */
export function normalise (input: ConfigInput, source: string, baseDir: string, where: (path: readonly string[]) => Position): Config {
  const auth = defaultAuth(input, baseDir, where)
  const routes = Object.entries(input.routes).map(([path, r]): Route => Object.freeze({
    ...routeSecurity(r, path, input, auth, baseDir, where),
    containment: routeContainment(r, path, input, where),
    path,
    executable: r.command[0] as string,
    commandAt: where(['routes', path, 'command', '0']),
    command: Object.freeze([...r.command]),
    params: Object.freeze(Object.fromEntries(Object.entries(r.params ?? {}).map(([name, p]) => [name, typeof p === 'string' ? p : p.pattern]))),
    allowDash: Object.freeze(Object.entries(r.params ?? {}).filter(([, p]) => typeof p !== 'string' && p.allowDash === true).map(([name]) => name)),
    mode: r.mode ?? DEFAULTS.mode,
    stderr: r.stderr ?? DEFAULTS.stderr,
    env: Object.freeze({ ...r.env }),
    passEnv: Object.freeze([...(r.passEnv ?? DEFAULTS.passEnv)]),
    cwd: r.cwd === undefined ? undefined : resolve(baseDir, r.cwd),
    maxLineBytes: r.maxLineBytes ?? DEFAULTS.maxLineBytes,
    closeGraceMs: toMs(r.closeGrace ?? DEFAULTS.closeGrace),
    killGraceMs: toMs(r.killGrace ?? DEFAULTS.killGrace),
    tty: r.tty ?? DEFAULTS.tty,
    ttySize: Object.freeze({ ...(r.ttySize ?? DEFAULTS.ttySize) }),
    ttyControl: r.ttyControl ?? DEFAULTS.ttyControl,
    protocols: Object.freeze([...(r.protocols ?? DEFAULTS.protocols)]),
    pathInfo: r.pathInfo ?? false,
    share: r.share === undefined
      ? null
      : Object.freeze({
        input: r.share.input ?? DEFAULTS.share.input,
        replayBytes: toBytes(r.share.replay ?? DEFAULTS.share.replay),
        lingerMs: toMs(r.share.linger ?? DEFAULTS.share.linger),
        maxLagBytes: toBytes(r.share.maxLag ?? DEFAULTS.share.maxLag)
      }),
    resume: r.resume === undefined
      ? null
      : Object.freeze({
        windowMs: toMs(r.resume.window ?? DEFAULTS.resume.window),
        bufferBytes: toBytes(r.resume.buffer ?? DEFAULTS.resume.buffer)
      })
  }))
  return Object.freeze({
    source,
    baseDir,
    listen: Object.freeze({
      host: input.listen?.host ?? DEFAULTS.host,
      port: input.listen?.port ?? DEFAULTS.port,
      socket: input.listen?.socket === undefined ? undefined : resolve(baseDir, input.listen.socket)
    }),
    shutdown: Object.freeze({ drainTimeoutMs: toMs(input.shutdown?.drainTimeout ?? DEFAULTS.drainTimeout) }),
    health: Object.freeze({ live: input.health?.live ?? DEFAULTS.livePath, ready: input.health?.ready ?? DEFAULTS.readyPath }),
    metrics: Object.freeze({
      enabled: input.metrics?.enabled ?? true,
      path: input.metrics?.path ?? DEFAULTS.metricsPath,
      port: input.metrics?.port,
      host: input.metrics?.host
    }),
    console: input.console ?? DEFAULTS.console,
    spawners: input.spawners ?? Math.min(availableParallelism(), DEFAULTS.maxDefaultSpawners),
    // The start queue holds as many as there may be sessions: a burst waits instead of being refused.
    maxPendingSpawns: input.maxPendingSpawns ?? pendingFor(input.maxSessions ?? SECURITY_DEFAULTS.maxSessions),
    startTimeoutMs: toMs(input.startTimeout ?? DEFAULTS.startTimeout),
    maxParamLength: input.maxParamLength ?? DEFAULTS.maxParamLength,
    static: input.static === undefined
      ? undefined
      : Object.freeze({ dir: resolve(baseDir, input.static.dir), prefix: withSlash(input.static.prefix ?? DEFAULTS.staticPrefix), dirAt: where(['static', 'dir']) }),
    routes: Object.freeze(routes),
    auth,
    security: serverSecurity(input, baseDir, where),
    headers: Object.freeze({
      any: Object.freeze({ ...input.headers?.any }),
      ws: Object.freeze({ ...input.headers?.ws }),
      http: Object.freeze({ ...input.headers?.http })
    })
  })
}

/** The default bound of the start queue: `maxSessions`, or none when sessions have no limit. */
function pendingFor (maxSessions: number): number {
  return maxSessions === 0 ? Infinity : maxSessions
}

function withSlash (prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`
}
