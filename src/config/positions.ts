import { isMap, isSeq, type Document, type LineCounter, type Node, type Scalar } from 'yaml'

/** A place in a YAML source, counted from 1. */
export interface Position {
  line: number
  column: number
}

/** Looks up the line and column of keys and values of one parsed YAML document. */
export class PositionFinder {
  readonly #doc: Document
  readonly #lines: LineCounter

  constructor (doc: Document, lines: LineCounter) {
    this.#doc = doc
    this.#lines = lines
  }

  /** The position of an offset in the source. */
  at (offset: number): Position {
    const { line, col } = this.#lines.linePos(offset)
    return { line, column: col }
  }

  /**
   * The position of the value at `path` (or of its key when `key` is true). When the path does
   * not exist, the deepest existing node on it is used, so a missing key points at its parent.
   */
  of (path: readonly string[], key = false): Position {
    let node: Node | null = this.#doc.contents
    let keyNode: Node | null = null
    for (const segment of path) {
      const found = child(node, segment)
      if (found === undefined) break
      node = found.value
      keyNode = found.key
    }
    const target = key && keyNode !== null ? keyNode : node
    return this.at(target === null ? 0 : (target.range as [number, number, number])[0])
  }
}

function child (node: Node | null, segment: string): { key: Node | null, value: Node | null } | undefined {
  if (isMap(node)) {
    // Keys are scalars here: collection keys are rejected as warnings before any lookup.
    for (const pair of node.items) {
      const key = pair.key as Scalar
      // An empty key (`: value`) is a null scalar: the key ''.
      if (String(key.value ?? '') === segment) return { key, value: pair.value as Node }
    }
  } else if (isSeq(node)) {
    const item = node.items[Number(segment)] as Node | undefined
    if (item !== undefined) return { key: item, value: item }
  }
  return undefined
}
