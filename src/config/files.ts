import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import bcrypt from 'bcryptjs'
import type { Config, LoadedAuth, LoadedParts, LoadedRoute, LoadedTls } from './model.js'
import type { AuthSpec, Credentials, TlsSpec } from './security.js'
import { ConfigError, type ConfigProblem } from '../errors.js'

/** Shortest bearer token accepted: shorter ones could be guessed. */
export const MIN_TOKEN_LENGTH = 16

const BCRYPT = /^\$2[abxy]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/
const NAME = /^[A-Za-z0-9_.@-]+$/

/** SHA-256 of a token: what is kept and compared, so comparisons take the same time. */
export function tokenDigest (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

type Fail = (key: string, message: string) => void

/**
 * Reads the files and variables the configuration names: bearer tokens, htpasswd users and the
 * TLS certificate, key and CA. Returns the configuration with them loaded.
 * @throws {ConfigError} naming the config entry of each file that is missing or malformed.
 */
export async function readSecurityFiles (config: Config, serverEnv: Readonly<Record<string, string | undefined>>): Promise<LoadedParts> {
  const problems: ConfigProblem[] = []
  const loaded = new Map<AuthSpec, LoadedAuth>()
  const loadAuth = async (spec: AuthSpec | null): Promise<LoadedAuth | null> => {
    if (spec === null) return null
    const fail: Fail = (key, message) => problems.push({ file: config.source, ...spec.at, key: `${spec.key}.${key}`, message })
    let done = loaded.get(spec)
    if (done === undefined) {
      done = Object.freeze({ ...spec, credentials: await readCredentials(spec, serverEnv, fail) })
      loaded.set(spec, done)
    }
    return done
  }
  // Routes that inherit the top level's auth share one spec: read it once.
  const routes: LoadedRoute[] = []
  for (const route of config.routes) routes.push(Object.freeze({ ...route, auth: await loadAuth(route.auth) }))
  const auth = await loadAuth(config.auth)
  const spec = config.security.tls
  const tls = spec === null ? null : await readTls(spec, (key, message) => problems.push({ file: config.source, ...spec.at, key: `tls.${key}`, message }))
  if (problems.length > 0) throw new ConfigError(problems)
  // No problem: every TLS file was read (readTls reports each one it could not use).
  return Object.freeze({ ...config, routes: Object.freeze(routes), auth, security: Object.freeze({ ...config.security, tls: tls as LoadedTls | null }) })
}

async function readText (path: string, key: string, fail: Fail): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    fail(key, `cannot read ${path} (${(err as NodeJS.ErrnoException).code as string})`)
    return undefined
  }
}

/** Words of the lines that are not comments, with their line numbers. */
function entries (text: string): Array<{ line: number, text: string }> {
  return text.split('\n').flatMap((t, i) => t.trimStart().startsWith('#') ? [] : t.split(/\s+/).filter((w) => w !== '').map((w) => ({ line: i + 1, text: w })))
}

async function readCredentials (spec: AuthSpec, serverEnv: Readonly<Record<string, string | undefined>>, fail: Fail): Promise<Credentials> {
  const tokens: Array<{ name: string, digest: Buffer }> = []
  const users = new Map<string, string>()
  let rounds = 10
  if (spec.bearer !== null) {
    const { tokensFile, tokensEnv } = spec.bearer
    const key = tokensFile === undefined ? 'bearer.tokensEnv' : 'bearer.tokensFile'
    const text = tokensFile === undefined ? serverEnv[tokensEnv as string] : await readText(tokensFile, key, fail)
    const where = tokensFile ?? `$${tokensEnv as string}`
    if (text === undefined && tokensFile === undefined) fail(key, `the variable ${tokensEnv as string} is not set`)
    for (const { line, text: entry } of entries(text ?? '')) {
      const colon = entry.indexOf(':')
      const named = colon > 0 && NAME.test(entry.slice(0, colon))
      const token = named ? entry.slice(colon + 1) : entry
      if (token.length < MIN_TOKEN_LENGTH) fail(key, `${where}:${line}: a token needs at least ${MIN_TOKEN_LENGTH} characters`)
      else tokens.push({ name: named ? entry.slice(0, colon) : '', digest: tokenDigest(token) })
    }
    if (text !== undefined && tokens.length === 0) fail(key, `${where} holds no token`)
  }
  if (spec.basic !== null) {
    const { usersFile } = spec.basic
    const text = await readText(usersFile, 'basic.usersFile', fail)
    for (const { line, text: entry } of entries(text ?? '')) {
      const colon = entry.indexOf(':')
      const hash = entry.slice(colon + 1)
      const cost = BCRYPT.exec(hash)?.[1]
      if (colon <= 0 || cost === undefined) {
        fail('basic.usersFile', `${usersFile}:${line}: expected user:bcrypt-hash (htpasswd -B)`)
        continue
      }
      users.set(entry.slice(0, colon), hash)
      rounds = Number(cost)
    }
    if (text !== undefined && users.size === 0) fail('basic.usersFile', `${usersFile} holds no user`)
  }
  const dummyHash = spec.basic === null ? '' : bcrypt.hashSync('wsexec: no such user', rounds)
  return Object.freeze({ tokens: Object.freeze(tokens), users, dummyHash })
}

async function readTls (spec: TlsSpec, fail: Fail): Promise<LoadedTls | undefined> {
  const read = async (path: string, key: string): Promise<Buffer | undefined> => {
    try {
      return await readFile(path)
    } catch (err) {
      fail(key, `cannot read ${path} (${(err as NodeJS.ErrnoException).code as string})`)
      return undefined
    }
  }
  const cert = await read(spec.cert, 'cert')
  const key = await read(spec.key, 'key')
  const ca = spec.ca === undefined ? undefined : await read(spec.ca, 'ca')
  if (cert === undefined || key === undefined || (spec.ca !== undefined && ca === undefined)) return undefined
  try {
    createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) })
  } catch (err) {
    fail('cert', `unusable certificate, key or CA: ${(err as Error).message}`)
    return undefined
  }
  return Object.freeze({ ...spec, pem: Object.freeze({ cert, key, ca }) })
}
