import { lstat, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'

/**
 * Listens on the Unix socket `path`; a socket file left by a server that is gone is removed
 * first, one that still answers is not (listening then fails with EADDRINUSE).
 * Resolves to `unix:<path>`.
 */
export async function listenSocket (app: FastifyInstance, path: string): Promise<string> {
  if (await isStaleSocket(path)) await unlink(path)
  await app.listen({ path, listenTextResolver: () => `listening on unix:${path}` })
  return `unix:${path}`
}

async function isStaleSocket (path: string): Promise<boolean> {
  try {
    if (!(await lstat(path)).isSocket()) return false
  } catch {
    return false
  }
  return new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(false) })
    probe.once('error', () => resolve(true))
  })
}
