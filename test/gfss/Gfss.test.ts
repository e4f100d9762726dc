import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as fc from "fast-check"
import { combine as privyCombine, split as privySplit } from "shamir-secret-sharing"
import * as Gf256 from "../../src/gfss/Gf256.ts"
import * as Gfss from "../../src/gfss/Gfss.ts"
import { seeded } from "../../src/testing/SeededRng.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`unexpected failure: ${String(r.failure)}`)
  return r.success
}
const failTag = <A, E extends { readonly _tag: string }>(r: Result.Result<A, E>): string =>
  Result.isFailure(r) ? r.failure._tag : "Success"

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16))
const secret32 = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

/** n, k and a subset of k distinct share indexes. */
const splitCase = fc.tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 0, max: 8 })).chain(([k, extra]) =>
  fc.record({
    k: fc.constant(k),
    n: fc.constant(k + extra),
    secret: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    seed: fc.integer(),
    order: fc.shuffledSubarray(
      Array.from({ length: k + extra }, (_, i) => i),
      { minLength: k, maxLength: k }
    )
  })
)

describe("Gfss", () => {
  it("any k of n shares recombine to the secret (property)", () => {
    fc.assert(
      fc.property(splitCase, ({ k, n, secret, seed, order }) => {
        const shares = ok(Gfss.split(secret, n, k, seeded(seed)))
        assert.strictEqual(shares.length, n)
        assert.deepStrictEqual(
          shares.map((s) => s.x),
          Array.from({ length: n }, (_, i) => i + 1)
        )
        const subset = order.map((i) => shares[i]).filter((s) => s !== undefined)
        assert.deepStrictEqual(ok(Gfss.combine(subset)), secret)
      }),
      { seed: 42, numRuns: 300 }
    )
  })

  it("every share byte is its polynomial evaluated at x with scalar field arithmetic, up to x = 255 (property)", () => {
    const evaluationCase = fc.record({
      k: fc.integer({ min: 2, max: 8 }),
      extra: fc.integer({ min: 0, max: 247 }),
      secret: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      seed: fc.integer()
    })
    fc.assert(
      fc.property(evaluationCase, ({ k, extra, secret, seed }) => {
        const n = k + extra
        const source = seeded(seed)
        let drawn = new Uint8Array(0)
        const shares = ok(
          Gfss.split(secret, n, k, (target) => {
            source(target)
            drawn = Uint8Array.from(target)
          })
        )
        const len = secret.length
        assert.strictEqual(drawn.length, (k - 1) * len)
        // Coefficient j of byte b: the secret for j = 0, then the drawn bytes in the documented layout.
        const coefficient = (j: number, b: number) => (j === 0 ? (secret[b] ?? 0) : (drawn[(j - 1) * len + b] ?? 0))
        const mismatched = shares.filter((share) =>
          Array.from(share.y).some((y, b) => {
            let expected = 0
            let power = 1
            for (let j = 0; j < k; j++) {
              expected ^= Gf256.mul(coefficient(j, b), power)
              power = Gf256.mul(power, share.x)
            }
            return y !== expected
          })
        )
        assert.deepStrictEqual(
          mismatched.map((s) => s.x),
          []
        )
        assert.deepStrictEqual(ok(Gfss.combine(shares.slice(n - k))), secret)
      }),
      { seed: 45, numRuns: 100 }
    )
  })

  it("k−1 shares do not recombine to the secret (property, overwhelmingly)", () => {
    fc.assert(
      fc.property(splitCase, ({ k, n, seed, order }) => {
        fc.pre(k >= 3)
        const shares = ok(Gfss.split(secret32, n, k, seeded(seed)))
        const subset = order
          .slice(0, k - 1)
          .map((i) => shares[i])
          .filter((s) => s !== undefined)
        assert.notDeepEqual(ok(Gfss.combine(subset)), secret32)
      }),
      { seed: 43, numRuns: 300 }
    )
  })

  it("computeShare at a member's x from any k other shares equals that member's share (property)", () => {
    fc.assert(
      fc.property(splitCase, ({ k, n, seed, order }) => {
        fc.pre(n > k)
        const shares = ok(Gfss.split(secret32, n, k, seeded(seed)))
        const missing = Array.from({ length: n }, (_, i) => i).find((i) => !order.includes(i)) ?? 0
        const subset = order.map((i) => shares[i]).filter((s) => s !== undefined)
        const target = shares[missing]
        assert.isDefined(target)
        if (target) assert.deepStrictEqual(ok(Gfss.computeShare(subset, target.x)), target)
      }),
      { seed: 44, numRuns: 300 }
    )
  })

  it("7 new shares computed at x = 20..26 from a (10, 7) split recombine to the secret", () => {
    const shares = ok(Gfss.split(secret32, 10, 7, seeded("x20")))
    const base = shares.slice(0, 7)
    const fresh = [20, 21, 22, 23, 24, 25, 26].map((x) => ok(Gfss.computeShare(base, x)))
    assert.deepStrictEqual(ok(Gfss.combine(fresh)), secret32)
  })

  it("the derived (3, 3) vector: shares, recombination and share recomputation", () => {
    const secret = hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
    // f_i(x) = s_i + (0x40+i)·x + (0x80+i)·x², expressed as an rng yielding the coefficients.
    const coefficients = new Uint8Array(64)
    for (let i = 0; i < 32; i++) {
      coefficients[i] = 0x40 + i
      coefficients[32 + i] = 0x80 + i
    }
    const shares = ok(Gfss.split(secret, 5, 3, (target) => target.set(coefficients)))
    assert.deepStrictEqual(
      shares[0]?.y,
      Uint8Array.from({ length: 32 }, (_, i) => 0xc1 + i)
    )
    assert.deepStrictEqual(shares[1]?.y, hex("b7b2b9b8abaea5ac8f8a818093969d84c7c2c9c8dbded5dcfffaf1f0e3e6edd4"))
    assert.deepStrictEqual(shares[2]?.y, hex("777279786b6e656c4f4a414053565d44070209081b1e151c3f3a313023262d14"))
    const pick = (xs: ReadonlyArray<number>) => xs.map((x) => shares[x - 1]).filter((s) => s !== undefined)
    assert.deepStrictEqual(ok(Gfss.combine(pick([1, 3, 5]))), secret)
    assert.deepStrictEqual(ok(Gfss.computeShare(pick([2, 4, 5]), 1)), shares[0])
  })

  it("draws all of a split's randomness in one call", () => {
    let calls = 0
    const rng = seeded(1)
    ok(
      Gfss.split(secret32, 8, 5, (t) => {
        calls++
        rng(t)
      })
    )
    assert.strictEqual(calls, 1)
  })

  it("every error variant comes from the input that should produce it", () => {
    const shares = ok(Gfss.split(secret32, 3, 2, seeded(2)))
    const [a, b] = shares
    assert.isDefined(a)
    assert.isDefined(b)
    if (!a || !b) return
    assert.strictEqual(failTag(Gfss.split(secret32, 3, 1)), "ThresholdTooSmall")
    assert.strictEqual(failTag(Gfss.split(secret32, 2, 3)), "TooFewTotalShares")
    assert.strictEqual(failTag(Gfss.split(secret32, 256, 3)), "TooFewTotalShares")
    assert.strictEqual(failTag(Gfss.combine([a])), "TooFewShares")
    assert.strictEqual(failTag(Gfss.combine([a, a])), "DuplicateXCoordinates")
    assert.strictEqual(failTag(Gfss.combine([a, { x: b.x, y: b.y.subarray(1) }])), "InvalidShareLengths")
    assert.strictEqual(failTag(Gfss.combine([a, { x: 0, y: b.y }])), "InvalidShareId")
    assert.strictEqual(failTag(Gfss.combine([a, { x: 256, y: b.y }])), "InvalidShareId")
    assert.strictEqual(failTag(Gfss.computeShare([a, b], 0)), "InvalidShareId")
    const tooSmall = Gfss.split(secret32, 3, 1)
    assert.isTrue(Result.isFailure(tooSmall) && /at least 2/.test(tooSmall.failure.message))
  })

  it("zeroShare clears the bytes", () => {
    const [share] = ok(Gfss.split(secret32, 3, 2, seeded(3)))
    assert.isDefined(share)
    if (!share) return
    Gfss.zeroShare(share)
    assert.isTrue(share.y.every((b) => b === 0))
  })

  it.effect("shares split by the audited shamir-secret-sharing package combine with ours", () =>
    Effect.gen(function* () {
      for (const [n, k] of [
        [3, 2],
        [8, 5],
        [16, 9]
      ] as const) {
        const theirs = yield* Effect.promise(() => privySplit(secret32, n, k))
        // Their share layout is y-bytes ‖ x.
        const ours = theirs.map((s) => ({ x: s[s.length - 1] ?? 0, y: s.subarray(0, s.length - 1) }))
        assert.deepStrictEqual(ok(Gfss.combine(ours.slice(0, k))), secret32)
        const back = ok(Gfss.split(secret32, n, k, seeded(n)))
        const asTheirs = back.slice(n - k).map((s) => Uint8Array.of(...s.y, s.x))
        assert.deepStrictEqual(yield* Effect.promise(() => privyCombine(asTheirs)), secret32)
      }
    })
  )
})
