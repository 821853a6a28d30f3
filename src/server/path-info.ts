import { splitUrl } from '../url.js'

/**
 * A decoded path with its `.` and `..` segments resolved and empty segments dropped, keeping a
 * trailing `/`: Go's `ServeMux` cleaning, which websocketd (and so `--dir`) applies before serving.
 */
export function cleanPath (path: string): string {
  const out: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') out.pop()
    else out.push(segment)
  }
  const clean = `/${out.join('/')}`
  return path.endsWith('/') && clean !== '/' ? `${clean}/` : clean
}

/**
 * Where websocketd would redirect (301) a request target: its path decoded (`%2f` is `/`) and
 * cleaned, re-encoded, with the query kept; undefined when the path is clean already or does not
 * decode. So `/env.sh/../../etc/passwd` goes to `/etc/passwd`, and a program never sees a `..`.
 */
export function redirectFor (url: string): string | undefined {
  const { path, query } = splitUrl(url)
  const decoded = decodedPath(path)
  if (decoded === undefined) return undefined
  const clean = cleanPath(decoded)
  if (clean === decoded) return undefined
  const location = encodeURI(clean).replaceAll('?', '%3F').replaceAll('#', '%23')
  return query === undefined ? location : `${location}?${query}`
}

/** A path with every `%` escape decoded (`%2f` too, as websocketd's PATH_INFO has it), or undefined when one does not decode. */
export function decodedPath (path: string): string | undefined {
  try {
    return decodeURIComponent(path)
  } catch {
    return undefined
  }
}
