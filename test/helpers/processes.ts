import { readdirSync, readFileSync } from 'node:fs'

/** True while a process exists and is not a zombie (a zombie has ended; only its entry is left). */
export function isRunning (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/**
 * Process ids whose parent is `ppid`, with their state letter (Z for zombies). A wsexec spawner
 * (a child running `spawner/worker.mjs`) stands for the programs it started: its children are
 * listed instead of it, so that "no program left" reads the same with spawners as without.
 */
export function childrenOf (ppid: number): Array<{ pid: number, state: string }> {
  const out: Array<{ pid: number, state: string }> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) !== ppid) continue
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes('spawner/worker.mjs')) out.push(...childrenOf(Number(entry)))
      else out.push({ pid: Number(entry), state: fields[0] as string })
    } catch {
      // the process ended while we looked
    }
  }
  return out
}

/** Number of open file descriptors of this process. */
export function openDescriptors (): number {
  return readdirSync('/proc/self/fd').length
}

/** The parent process id of `pid`, from /proc (undefined once it has ended). */
export function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** The command lines of the processes whose parent is `ppid` (spawners included, unlike {@link childrenOf}), by pid. */
export function directChildren (ppid: number): Map<number, string> {
  const out = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || parentOf(Number(entry)) !== ppid) continue
    try {
      out.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' '))
    } catch {
      // the process ended while we looked
    }
  }
  return out
}
