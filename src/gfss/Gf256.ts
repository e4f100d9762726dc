/**
 * Arithmetic in GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B).
 *
 * Every operation is branch-free and table-free on its operands: field elements are secret share
 * bytes, and a log/exp table indexed by a secret byte leaks it through the cache. Multiplication is
 * bit-serial shift-and-add with masks; the inverse is a^254 by a fixed addition chain.
 */

/** Addition (and subtraction): XOR. */
export const add = (a: number, b: number): number => (a ^ b) & 0xff

/** Multiplication: eight rounds of masked shift-and-add, reducing by 0x1B when the high bit carries out. */
export const mul = (a: number, b: number): number => {
  let p = 0
  let x = a & 0xff
  let y = b & 0xff
  for (let i = 0; i < 8; i++) {
    p ^= x & -(y & 1)
    y >>>= 1
    const carry = -((x >>> 7) & 1)
    x = ((x << 1) ^ (0x1b & carry)) & 0xff
  }
  return p
}

/** The multiplicative inverse a^254 (inv(0) = 0; callers never divide by zero: x-coordinates are distinct). */
export const inv = (a: number): number => {
  const a2 = mul(a, a)
  const a4 = mul(a2, a2)
  const a8 = mul(a4, a4)
  const a9 = mul(a8, a)
  const a16 = mul(a8, a8)
  const a25 = mul(a16, a9)
  const a50 = mul(a25, a25)
  const a100 = mul(a50, a50)
  const a200 = mul(a100, a100)
  return mul(mul(a200, a50), a4)
}

/** Division a / b = a · b⁻¹. */
export const div = (a: number, b: number): number => mul(a, inv(b))

/** Constant-time equality of two field elements. */
export const ctEq = (a: number, b: number): boolean => (((a ^ b) & 0xff) - 1) >>> 31 === 1
