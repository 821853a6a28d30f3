/** The process groups of session `sid`, from /proc (`proc`: where procfs is mounted); the session's own group always. */
export function sessionGroups (sid: number, proc?: string): number[]

/** Sends `signal` to every process group of session `sid`; false when none of them is left. */
export function signalSession (sid: number, signal: NodeJS.Signals | 0): boolean
