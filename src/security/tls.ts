import type { ServerOptions as HttpServerOptions } from 'node:http'
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import type { LoadedConfig } from '../config/model.js'

/** Longest pause between two checks for clients that are too slow with their headers (ms). */
const MAX_CHECK_INTERVAL_MS = 1000

/** The fastify options that carry the server's transport security: TLS, handshake timeout, header size, proxies. */
export interface TransportOptions {
  http?: HttpServerOptions
  https?: HttpsServerOptions
  requestTimeout: number
  /** How long an idle keep-alive connection stays open (ms). */
  keepAliveTimeout: number
  trustProxy: string[] | false
}

/**
 * Fastify options for `security`: a client that has not sent its whole request head within
 * `handshakeTimeoutMs` gets 408 and is dropped (checked often enough that it never gets much
 * longer), larger heads than `maxHeaderBytes` get 431, an idle keep-alive connection is closed
 * after `keepAliveTimeoutMs`; with `tls` the server speaks https/wss,
 * and with `tls.ca` every client must present a certificate that CA signed.
 */
export function transportOptions (security: LoadedConfig['security']): TransportOptions {
  const timeout = security.handshakeTimeoutMs
  const http: HttpServerOptions = {
    maxHeaderSize: security.maxHeaderBytes,
    ...(timeout > 0 && {
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.max(10, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(timeout / 4)))
    })
  }
  const base = { http, requestTimeout: timeout, keepAliveTimeout: security.keepAliveTimeoutMs, trustProxy: security.trustProxy === null ? false as const : [...security.trustProxy] }
  const tls = security.tls
  if (tls === null) return base
  const { cert, key, ca } = tls.pem
  return {
    ...base,
    https: {
      ...http,
      cert,
      key,
      ...(ca !== undefined && { ca, requestCert: true, rejectUnauthorized: true }),
      ...(timeout > 0 && { handshakeTimeout: timeout })
    }
  }
}
