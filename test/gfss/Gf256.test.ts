import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Gf256 from "../../src/gfss/Gf256.ts"

/** Reference multiplication: carry-less product, then reduction by the AES polynomial 0x11B. */
const naiveMul = (a: number, b: number): number => {
  let product = 0
  for (let i = 0; i < 8; i++) if ((b >> i) & 1) product ^= a << i
  for (let bit = 14; bit >= 8; bit--) if ((product >> bit) & 1) product ^= 0x11b << (bit - 8)
  return product
}

const byte = fc.integer({ min: 0, max: 255 })

describe("Gf256", () => {
  it("matches the known products", () => {
    assert.strictEqual(Gf256.mul(0x57, 0x83), 0xc1)
    assert.strictEqual(Gf256.mul(0x21, 0x12), 0x64)
    assert.strictEqual(Gf256.mul(2, 128), 0x1b)
    assert.strictEqual(Gf256.mul(255, 255), 19)
    assert.strictEqual(Gf256.mul(0x53, 0xca), 1)
    assert.strictEqual(Gf256.inv(2), 0x8d)
  })

  it("row 3 and the last 16 products of row 255 match the multiplication table", () => {
    assert.deepStrictEqual(
      Array.from({ length: 16 }, (_, j) => Gf256.mul(3, j)),
      [0, 3, 6, 5, 12, 15, 10, 9, 24, 27, 30, 29, 20, 23, 18, 17]
    )
    assert.deepStrictEqual(
      Array.from({ length: 16 }, (_, j) => Gf256.mul(255, 240 + j)),
      [97, 158, 132, 123, 176, 79, 85, 170, 216, 39, 61, 194, 9, 246, 236, 19]
    )
  })

  it("equals a naive reference for all 65,536 pairs", () => {
    let mismatches = 0
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) if (Gf256.mul(a, b) !== naiveMul(a, b)) mismatches++
    assert.strictEqual(mismatches, 0)
  })

  it("every non-zero element times its inverse is 1, and a / a = 1", () => {
    for (let a = 1; a < 256; a++) {
      assert.strictEqual(Gf256.mul(a, Gf256.inv(a)), 1, `a = ${a}`)
      assert.strictEqual(Gf256.div(a, a), 1, `a = ${a}`)
    }
  })

  it("multiplication commutes and distributes over XOR (property)", () => {
    fc.assert(
      fc.property(byte, byte, byte, (a, b, c) => {
        assert.strictEqual(Gf256.mul(a, b), Gf256.mul(b, a))
        assert.strictEqual(Gf256.mul(a, Gf256.add(b, c)), Gf256.add(Gf256.mul(a, b), Gf256.mul(a, c)))
      }),
      { seed: 42, numRuns: 2000 }
    )
  })

  it("ctEq is equality", () => {
    for (let a = 0; a < 256; a++) {
      assert.isTrue(Gf256.ctEq(a, a))
      assert.isFalse(Gf256.ctEq(a, (a + 1) & 0xff))
    }
  })
})
