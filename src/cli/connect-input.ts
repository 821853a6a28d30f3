import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'

/** Where `wsexec connect` sends its input: the connection of the moment. */
export interface InputSink {
  /** A string is a text message (a line), a Buffer a binary one (channel 0 on channel sessions). */
  send: (payload: Buffer | string) => void
  /** The end of input: an empty binary message, or v5's close signal (Ctrl-D on a terminal). */
  end: () => void
}

/**
 * How stdin is sent: each line a text message, raw chunks, or chunks typed on a terminal with each
 * newline as Enter (a terminal route fed by a pipe, or by a terminal in line mode).
 */
export type InputMode = 'lines' | 'chunks' | 'keys'

const CR = 0x0d
const LF = 0x0a

/**
 * Rewrites newlines (`\n`, `\r\n`) as the terminal's Enter (`\r`), as a terminal sends a key
 * press; a `\r\n` split between two chunks gives one Enter.
 */
export function enterKeys (): (chunk: Buffer) => Buffer {
  let afterCR = false
  return (chunk) => {
    const out = Buffer.allocUnsafe(chunk.length)
    let n = 0
    for (const byte of chunk) {
      if (byte === LF && afterCR) { afterCR = false; continue }
      afterCR = byte === CR
      out[n++] = byte === LF ? CR : byte
    }
    return out.subarray(0, n)
  }
}

/** Sends `stdin` to `sink` as `mode` says, then its end. Returns what stops reading. */
export function pumpInput (stdin: Readable, mode: InputMode, sink: InputSink): () => void {
  if (mode === 'lines') {
    const lines = createInterface({ input: stdin, crlfDelay: Infinity })
    lines.on('line', (line) => sink.send(line))
    lines.once('close', sink.end)
    return () => { lines.off('close', sink.end); lines.close(); stdin.destroy() }
  }
  const typed = mode === 'keys' ? enterKeys() : undefined
  const onData = (chunk: Buffer): void => {
    const bytes = typed === undefined ? chunk : typed(chunk)
    if (bytes.length > 0) sink.send(bytes)
  }
  stdin.on('data', onData)
  stdin.once('end', sink.end)
  return () => { stdin.off('data', onData); stdin.off('end', sink.end); stdin.destroy() }
}
