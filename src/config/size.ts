/** Accepted size strings: a number with a unit, `64KiB`, `1MiB`, `1.5MB`, `512B` (units of 1000 or 1024). */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(B|kB|KB|KiB|MB|MiB|GB|GiB)$'

const factors: Readonly<Record<string, number>> = { B: 1, kB: 1000, KB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 }
const sizeRe = new RegExp(SIZE_PATTERN)

/**
 * Bytes for a size given as a number of bytes or a string such as `64KiB`.
 * @throws {TypeError} when the value is neither.
 */
export function toBytes (value: number | string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  const match = typeof value === 'string' ? sizeRe.exec(value) : null
  if (match === null) throw new TypeError(`Invalid size: ${JSON.stringify(value)} (use 64KiB, 1MiB or a number of bytes)`)
  return Math.round(Number.parseFloat(value as string) * (factors[match[2] as string] as number))
}
