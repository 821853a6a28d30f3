/** A request target split at its first `?`: the path, and the query after the `?` (undefined when there is no `?`). */
export interface SplitUrl {
  readonly path: string
  readonly query: string | undefined
}

/** Splits a request target (`/a/b?x=1`) into its path and its query: the one place URLs are cut. */
export function splitUrl (url: string): SplitUrl {
  const mark = url.indexOf('?')
  return mark === -1 ? { path: url, query: undefined } : { path: url.slice(0, mark), query: url.slice(mark + 1) }
}
