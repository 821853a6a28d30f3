import { Type, type Static, type TObject } from '@sinclair/typebox'
import { Duration, MESSAGE_KEYWORD, Size } from './schema-parts.js'

/** The `user` value that runs each session as the local account named like its authenticated user. */
export const REMOTE_USER_ACCOUNT = '{REMOTE_USER}'

/** Default values of the containment settings. */
export const CONTAINMENT_DEFAULTS = Object.freeze({
  /** `user: "{REMOTE_USER}"` refuses accounts below this uid (system accounts). */
  minUid: 1000
} as const)

const Account = (description: string) => Type.Union([
  Type.String({ minLength: 1 }),
  Type.Integer({ minimum: 0 })
], { description, [MESSAGE_KEYWORD]: 'must be a name or a number' })

const Rlimits = Type.Object({
  cpu: Type.Optional(Duration('CPU time of the program (RLIMIT_CPU), whole seconds (rounded up): SIGXCPU then, SIGKILL a second later')),
  memory: Type.Optional(Size('address space of the program (RLIMIT_AS): allocations beyond it fail')),
  files: Type.Optional(Type.Integer({ minimum: 0, description: 'open descriptors of the program (RLIMIT_NOFILE): opening more fails with EMFILE' })),
  processes: Type.Optional(Type.Integer({ minimum: 0, description: 'processes of the user the program runs as, all of them (RLIMIT_NPROC): fork fails with EAGAIN; not enforced for root' })),
  fileSize: Type.Optional(Size('largest file the program may write (RLIMIT_FSIZE): SIGXFSZ beyond it')),
  core: Type.Optional(Size('largest core dump (RLIMIT_CORE); 0: none'))
}, { additionalProperties: false, minProperties: 1, description: 'resource limits set (soft and hard) on the program before it runs, with util-linux prlimit' })

/** Containment settings a route may set; at the top level they are the defaults of every route. */
export const ROUTE_CONTAINMENT = {
  user: Type.Optional(Account(`run the program as this account (a name or a uid; "${REMOTE_USER_ACCOUNT}": the local account named like the authenticated user); needs wsexec to run as root unless it is wsexec's own`)),
  group: Type.Optional(Account('with user: the primary group (a name or a gid) instead of the account\'s own')),
  minUid: Type.Optional(Type.Integer({ minimum: 1, default: CONTAINMENT_DEFAULTS.minUid, description: `user "${REMOTE_USER_ACCOUNT}": accounts with a lower uid (and root) are refused with 403` })),
  rlimits: Type.Optional(Rlimits)
}

/** Containment settings as written (a route's, or the top level's). */
export type ContainmentInput = Static<TObject<typeof ROUTE_CONTAINMENT>>
/** The `rlimits` object as written. */
export type RlimitsInput = Static<typeof Rlimits>
