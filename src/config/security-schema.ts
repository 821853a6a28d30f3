import { Type, type Static, type TObject } from '@sinclair/typebox'
import { Duration, EnvName, MESSAGE_KEYWORD, SIZE_DEFAULTS } from './schema-parts.js'

/** Default values of the security settings: safe, and out of the way of ordinary use. */
export const SECURITY_DEFAULTS = Object.freeze({
  requireOrigin: false,
  maxSessions: 1000,
  maxSessionsPerClient: 100,
  maxMessageBytes: SIZE_DEFAULTS.maxMessageBytes,
  idleTimeout: 0,
  maxLifetime: 0,
  pingInterval: '30s',
  handshakeTimeout: '5s',
  maxHeaderBytes: SIZE_DEFAULTS.maxHeaderBytes,
  keepAliveTimeout: '5s',
  realm: 'wsexec',
  maxFailures: 10,
  failureWindow: '1m'
} as const)

/** A header name as `auth.header` takes it: letters, digits and `-` (as HTTP_<NAME> maps one-to-one). */
const HEADER_NAME = '^[A-Za-z0-9-]+$'

const Origins = Type.Array(Type.String({ minLength: 1 }), {
  description: 'allowed browser origins: exact (https://app.example.com), wildcard (https://*.example.com), "null" or "*"; default: same origin only'
})

const AuthSchema = Type.Object({
  bearer: Type.Optional(Type.Object({
    tokensFile: Type.Optional(Type.String({ minLength: 1, description: 'file of tokens, one a line: name:token or token' })),
    tokensEnv: Type.Optional(EnvName({ description: 'server environment variable holding tokens, separated by white space' }))
  }, { additionalProperties: false, minProperties: 1 })),
  basic: Type.Optional(Type.Object({
    usersFile: Type.String({ minLength: 1, description: 'htpasswd file of user:bcrypt-hash lines' })
  }, { additionalProperties: false })),
  header: Type.Optional(Type.Object({
    name: Type.String({ pattern: HEADER_NAME, description: 'request header naming the user, such as X-Forwarded-User: believed from trustProxy peers only, stripped from any other request' }),
    groups: Type.Optional(Type.String({ pattern: HEADER_NAME, description: 'request header listing the user\'s groups, separated by commas (X-Forwarded-Groups)' }))
  }, { additionalProperties: false, description: 'the user as an authenticating proxy in front says (oauth2-proxy, an SSO gateway); needs trustProxy' })),
  realm: Type.Optional(Type.String({ minLength: 1, pattern: '^[^"\\\\]*$', default: SECURITY_DEFAULTS.realm })),
  maxFailures: Type.Optional(Type.Integer({ minimum: 0, default: SECURITY_DEFAULTS.maxFailures, description: 'failed authentications from one client address within failureWindow before it gets 429 (0: no limit)' })),
  failureWindow: Type.Optional(Duration('how long failures are counted from the first one; after maxFailures the address is refused until it ends', SECURITY_DEFAULTS.failureWindow))
}, { additionalProperties: false, minProperties: 1, description: 'authentication; false on a route turns the server default off' })

const Auth = Type.Union([AuthSchema, Type.Literal(false)], { [MESSAGE_KEYWORD]: 'must be an object with bearer, basic and/or header, or false' })

/** Settings a route may override; at the top level they are the defaults of every route. */
export const ROUTE_SECURITY = {
  origins: Type.Optional(Origins),
  requireOrigin: Type.Optional(Type.Boolean({ default: SECURITY_DEFAULTS.requireOrigin, description: 'refuse requests without an Origin header' })),
  auth: Type.Optional(Auth),
  maxSessions: Type.Optional(Type.Integer({ minimum: 0, description: 'sessions at once: server-wide at the top level, of this route on a route (0: no limit)' })),
  maxSessionsPerClient: Type.Optional(Type.Integer({ minimum: 1, description: 'sessions at once from one client address: server-wide at the top level, on this route on a route' })),
  maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1, default: SECURITY_DEFAULTS.maxMessageBytes, description: 'larger client messages close the connection with 1009' })),
  idleTimeout: Type.Optional(Duration('no message either way for this long ends the session (0: never)', SECURITY_DEFAULTS.idleTimeout)),
  maxLifetime: Type.Optional(Duration('a session ends after this long (0: never)', SECURITY_DEFAULTS.maxLifetime))
}

/** Route-only security settings. */
export const ROUTE_ONLY_SECURITY = {
  users: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'only these authenticated users may connect (or members of groups); others get 403'
  })),
  groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'only members of these groups may connect (or users); groups come from auth.header.groups only'
  })),
  passHeaders: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]+$' }), {
    description: 'withheld secrets handed to the program anyway: Authorization, Cookie, access_token'
  }))
}

/** Server-only security settings. */
export const SERVER_SECURITY = {
  tls: Type.Optional(Type.Object({
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file' }),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA file: client certificates are then required' }))
  }, { additionalProperties: false, description: 'serve https/wss' })),
  allowedHosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'Host header names served: exact names or addresses, *.suffix, or * (ports ignored); default: on a loopback address or a Unix socket localhost, *.localhost, 127.0.0.1 and [::1] only, else any'
  })),
  trustProxy: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'addresses (or CIDR ranges) of proxies whose X-Forwarded-For is believed'
  })),
  pingInterval: Type.Optional(Duration('ping each client this often; one without a pong by the next ping is dropped (0: never)', SECURITY_DEFAULTS.pingInterval)),
  handshakeTimeout: Type.Optional(Duration('a client must send its whole handshake within this time', SECURITY_DEFAULTS.handshakeTimeout)),
  maxHeaderBytes: Type.Optional(Type.Integer({ minimum: 1024, default: SECURITY_DEFAULTS.maxHeaderBytes, description: 'larger request headers get 431' })),
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, description: 'open TCP connections at once, WebSocket or not; more are closed as they arrive (default: 2 × maxSessions; no limit when maxSessions is 0)' })),
  keepAliveTimeout: Type.Optional(Duration('an idle keep-alive HTTP connection is closed after this long (more than 0)', SECURITY_DEFAULTS.keepAliveTimeout))
}

/** Security settings of a route as written. */
export type RouteSecurityInput = Static<TObject<typeof ROUTE_SECURITY & typeof ROUTE_ONLY_SECURITY>>
/** Security settings of the file's top level as written. */
export type ServerSecurityInput = Static<TObject<typeof ROUTE_SECURITY & typeof SERVER_SECURITY>>
/** The `auth` object as written. */
export type AuthInput = Static<typeof AuthSchema>
