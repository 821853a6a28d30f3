// The process groups of a terminal's session, from /proc (plain JavaScript: the spawner's
// worker.mjs imports it, and so does the server's session/pty.ts).
import { readdirSync, readFileSync } from 'node:fs'

/**
 * The process groups of session `sid`, from /proc: a shell with job control puts each job in a
 * group of its own, and a hang-up or the end of the session must reach them all. `proc` is
 * where procfs is mounted.
 */
export function sessionGroups (sid, proc = '/proc') {
  const groups = new Set([sid])
  for (const name of readdirSync(proc)) {
    if (!/^[0-9]+$/.test(name)) continue
    let stat
    try {
      stat = readFileSync(`${proc}/${name}/stat`, 'latin1')
    } catch {
      // The process ended meanwhile.
      continue
    }
    // pid (comm) state ppid pgrp session …: comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[3]) === sid) groups.add(Number(fields[2]))
  }
  return [...groups]
}

/** Sends `signal` to every process group of session `sid`, as a terminal hang-up does; false when none of them is left. */
export function signalSession (sid, signal) {
  let any = false
  for (const group of sessionGroups(sid)) {
    try {
      process.kill(-group, signal)
      any = true
    } catch {
      // ESRCH: that group is gone.
    }
  }
  return any
}
