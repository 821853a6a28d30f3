import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux x86 and arm). */
const CLOCK_TICKS_PER_SECOND = 100

/**
 * Resident memory of a server in KiB: the process's own RSS (VmRSS) plus the private memory of
 * its wsexec spawner processes (children running `spawner/worker.mjs`), not the programs; NaN once
 * it is gone. A spawner's other resident pages (about 41 MiB: Node's binary and libraries) are the
 * same file pages the server's RSS counts already: adding its RSS would count them again.
 */
export function readRssKiB (pid: number): number {
  let total = readOwnRssKiB(pid)
  for (const child of readChildPids(pid)) {
    if (isSpawner(child)) total += readPrivateKiB(child) || 0
  }
  return total
}

/** Private memory of one process in KiB (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup); NaN once it is gone. */
function readPrivateKiB (pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1')
    let total = 0
    for (const match of rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) total += Number(match[1])
    return total
  } catch {
    return Number.NaN
  }
}

/** PIDs of the programs a server runs: its direct children, a wsexec spawner standing for its own children. */
export function readProgramPids (pid: number): number[] {
  return readChildPids(pid).flatMap((child) => isSpawner(child) ? readChildPids(child) : [child])
}

function isSpawner (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('spawner/worker.mjs')
  } catch {
    return false
  }
}

/** Resident set size of one process in KiB (VmRSS), not counting its children; NaN once it is gone. */
function readOwnRssKiB (pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1')
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
    return match?.[1] === undefined ? Number.NaN : Number(match[1])
  } catch {
    return Number.NaN
  }
}

/** CPU time (user + system) used by the process itself, in ms, not counting its children; NaN once it is gone. */
export function readCpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return (utime + stime) * 1000 / CLOCK_TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

/** Page faults of the process itself (minor + major, /proc/PID/stat), not counting its children; NaN once it is gone. */
export function readFaults (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[7]) + Number(fields[9])
  } catch {
    return Number.NaN
  }
}

/** PIDs of the direct children of `pid`, gathered from every thread (Go forks from any thread). */
export function readChildPids (pid: number): number[] {
  const children: number[] = []
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim()
        if (text !== '') children.push(...text.split(' ').map(Number))
      } catch {
        // The thread ended between readdir and read.
      }
    }
  } catch {
    // The process is gone: it has no children to report.
  }
  return children
}
