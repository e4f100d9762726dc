import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { RackSecret } from "../../src/crypto/RackSecret.ts"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import { seeded } from "../../src/testing/SeededRng.ts"

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16))

describe("RackSecret", () => {
  it("never shows its bytes through String, templates, JSON or inspect", () => {
    const bytes = new Uint8Array(32).fill(0xab)
    const r = RackSecret.fromBytes(bytes)
    assert.isTrue(Result.isSuccess(r))
    if (Result.isFailure(r)) return
    const secret = r.success
    const shown = [
      String(secret),
      `${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ nested: secret })
    ]
    for (const s of shown) {
      assert.include(s, "redacted")
      assert.notInclude(s.toLowerCase(), "abab")
      assert.notInclude(s, "171")
    }
  })

  it("generate redraws an all-zero secret", () => {
    let calls = 0
    const rng = seeded(5)
    const secret = RackSecret.generate((t) => {
      calls++
      if (calls === 1) t.fill(0)
      else rng(t)
    })
    assert.strictEqual(calls, 2)
    assert.isFalse(secret.use((b) => b.every((x) => x === 0)))
  })

  it("fromBytes refuses a wrong length and an all-zero value", () => {
    assert.isTrue(Result.isFailure(RackSecret.fromBytes(new Uint8Array(31).fill(1))))
    assert.isTrue(Result.isFailure(RackSecret.fromBytes(new Uint8Array(32))))
  })

  it("split and reconstruct round-trip; equality is by value", () => {
    const secret = RackSecret.generate(seeded(6))
    const shares = secret.split(5, 3, seeded(7))
    assert.isTrue(Result.isSuccess(shares))
    if (Result.isFailure(shares)) return
    const back = RackSecret.reconstruct(shares.success.slice(1, 4))
    assert.isTrue(Result.isSuccess(back) && back.success.equals(secret))
    assert.isFalse(RackSecret.generate(seeded(8)).equals(secret))
  })

  it("reconstruct fails with InvalidRackSecretSize for shares of another length", () => {
    const r = RackSecret.reconstruct([
      { x: 1, y: new Uint8Array(16).fill(1) },
      { x: 2, y: new Uint8Array(16).fill(2) }
    ])
    assert.isTrue(Result.isFailure(r) && r.failure._tag === "InvalidRackSecretSize")
  })

  it("use lends a copy that is zeroed afterwards; dispose zeroes the secret", () => {
    const secret = RackSecret.generate(seeded(9))
    let lent: Uint8Array | undefined
    secret.use((b) => {
      lent = b
    })
    assert.isTrue(lent?.every((x) => x === 0))
    const before = secret.fingerprint()
    secret.dispose()
    assert.notStrictEqual(secret.fingerprint(), before)
    assert.isTrue(secret.use((b) => b.every((x) => x === 0)))
  })

  it("fingerprints are 8 hex characters and differ between secrets", () => {
    const a = RackSecret.generate(seeded(10)).fingerprint()
    const b = RackSecret.generate(seeded(11)).fingerprint()
    assert.match(a, /^[0-9a-f]{8}$/)
    assert.notStrictEqual(a, b)
  })
})

describe("shareDigest", () => {
  it("is SHA3-256 over x ‖ y (reference vector)", () => {
    const y = Uint8Array.from({ length: 32 }, (_, i) => 0xc1 + i)
    assert.deepStrictEqual(
      shareDigest({ x: 1, y }),
      hex("39e7e029f9cdc1b24452f63c616a08dd6433de96a6a7e136fad8996e09671a94")
    )
  })
})
