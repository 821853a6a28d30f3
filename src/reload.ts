import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

/** How long file events are gathered before one reload (editors write in several steps), in ms. */
export const WATCH_SETTLE_MS = 100

/**
 * Calls `onChange` once shortly after `file` changes. The folder is watched, not the file, so
 * editors that save by writing a new file and renaming it are seen too. Returns the watcher.
 */
export function watchFile (file: string, onChange: () => void): FSWatcher {
  const path = resolve(file)
  const name = basename(path)
  let timer: NodeJS.Timeout | undefined
  const watcher = watch(dirname(path), (_event, changed) => {
    if (changed !== name) return
    clearTimeout(timer)
    timer = setTimeout(onChange, WATCH_SETTLE_MS)
  })
  watcher.on('close', () => clearTimeout(timer))
  return watcher
}
