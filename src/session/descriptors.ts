import { closeSync, openSync } from 'node:fs'

/** Descriptors one start takes in the server: three stdio pipes, two ends each, and libuv's exec-error pipe. */
const PER_START = 8

/** libuv's thread pool (file system, DNS) may open one descriptor per thread between the check and the start. */
const THREADS = Math.min(Math.max(Number(process.env['UV_THREADPOOL_SIZE']) | 0, 4), 1024)

/**
 * Checks that the server can open the descriptors a program's start needs, by opening and closing
 * them; returns the error (EMFILE, ENFILE) when it cannot. Out of descriptors, Node's spawn
 * returns a child without stdio whose 'error' comes a tick later, and execa 9 throws a TypeError
 * on that child before anyone can listen ("subprocess.stdio is not iterable"), so the 'error'
 * goes unhandled and ends the server: the start must not be tried at all. Nothing else in the
 * server runs between this check and the start but the thread pool, whose threads are counted in.
 */
export function descriptorShortage (): NodeJS.ErrnoException | undefined {
  const opened: number[] = []
  let shortage: NodeJS.ErrnoException | undefined
  try {
    while (opened.length < PER_START + THREADS) opened.push(openSync('/dev/null', 'r'))
  } catch (err) {
    shortage = err as NodeJS.ErrnoException
  }
  for (const fd of opened) closeSync(fd)
  return shortage
}
