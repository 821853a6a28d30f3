import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import { DEADLINE_MS } from './client.js'

/** A raw TCP connection to the server and everything it sent. */
export interface RawConnection {
  socket: Socket
  received: () => Buffer
  /** Resolves when the server closed the connection (or the deadline passed: rejects). */
  closed: Promise<void>
}

/** Opens a TCP connection to 127.0.0.1:`port` and records what arrives. */
export async function rawConnect (port: number): Promise<RawConnection> {
  const socket = netConnect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {})
  const closed = once(socket, 'close', { signal: AbortSignal.timeout(DEADLINE_MS) }).then(() => {})
  closed.catch(() => {})
  await once(socket, 'connect')
  return { socket, received: () => Buffer.concat(chunks), closed }
}

/** An upgrade request head for `path`, with `headers` added or replacing the usual ones (null drops one). */
export function upgradeRequest (path: string, headers: Record<string, string | null> = {}): string {
  const all: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers
  }
  const lines = Object.entries(all).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v as string}`)
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`
}

/** Connects and upgrades; resolves once the 101 head has arrived. */
export async function rawUpgrade (port: number, path: string, headers: Record<string, string | null> = {}): Promise<RawConnection> {
  const c = await rawConnect(port)
  c.socket.write(upgradeRequest(path, headers))
  const deadline = Date.now() + DEADLINE_MS
  while (!c.received().includes('\r\n\r\n')) {
    if (Date.now() > deadline) throw new Error('no handshake response')
    await once(c.socket, 'data', { signal: AbortSignal.timeout(DEADLINE_MS) })
  }
  const status = c.received().toString('latin1').split(' ')[1]
  if (status !== '101') throw new Error(`upgrade refused: ${c.received().toString('latin1')}`)
  return c
}

/** The HTTP status of a raw response head. */
export function statusOf (response: Buffer): number {
  return Number(response.toString('latin1').split(' ')[1])
}

/**
 * One client frame, the only frame encoder of the tests: masked unless `mask` is false; `length`
 * overrides the declared length, `form` writes it in the 16- or 64-bit form whatever its size.
 */
export function frame (opcode: number, payload: Buffer, options: { fin?: boolean, rsv?: number, mask?: boolean, length?: bigint, form?: 16 | 64 } = {}): Buffer {
  const { fin = true, rsv = 0, mask = true, form } = options
  const length = options.length ?? BigInt(payload.length)
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
  const maskBit = mask ? 0x80 : 0
  let ext = Buffer.alloc(0)
  if (length < 126n && form === undefined) head.push(maskBit | Number(length))
  else if (length < 65536n && form !== 64) {
    head.push(maskBit | 126)
    ext = Buffer.alloc(2)
    ext.writeUInt16BE(Number(length))
  } else {
    head.push(maskBit | 127)
    ext = Buffer.alloc(8)
    ext.writeBigUInt64BE(length)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload])
  const key = randomBytes(4)
  const masked = Buffer.from(payload.map((b, i) => b ^ (key[i % 4] as number)))
  return Buffer.concat([Buffer.from(head), ext, key, masked])
}

/** The close code of the first close frame the server sent after its handshake, if it has all arrived. */
export function closeCodeOf (received: Buffer): number | undefined {
  let i = received.indexOf('\r\n\r\n') + 4
  while (i + 2 <= received.length) {
    const opcode = (received[i] as number) & 0x0f
    let len = (received[i + 1] as number) & 0x7f
    let start = i + 2
    if (len === 126 && i + 4 <= received.length) { len = received.readUInt16BE(i + 2); start = i + 4 } else if (len === 127 && i + 10 <= received.length) { len = Number(received.readBigUInt64BE(i + 2)); start = i + 10 }
    // Not all there yet.
    if (start + len > received.length) return undefined
    if (opcode === 0x8) return len >= 2 ? received.readUInt16BE(start) : 1005
    i = start + len
  }
  return undefined
}
