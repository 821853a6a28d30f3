/** Accepted size strings: a number with a unit, binary (`KiB`, `MiB`, `GiB`, `TiB`) or decimal (`kB`, `MB`, `GB`, `TB`), or `B`. */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)$'

const factors: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4
}
const sizeRe = new RegExp(SIZE_PATTERN)

/**
 * Bytes for a size given as a whole number of bytes or a string such as `512MiB` (rounded down to a byte).
 * @throws {TypeError} when the value is neither.
 */
export function toBytes (value: number | string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  const match = typeof value === 'string' ? sizeRe.exec(value) : null
  if (match === null) throw new TypeError(`Invalid size: ${JSON.stringify(value)} (use 512MiB, 100MB or a number of bytes)`)
  return Math.floor(Number.parseFloat(value as string) * (factors[match[2] as string] as number))
}
