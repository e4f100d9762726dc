import { createCipheriv } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as PriorSecrets from "../../src/crypto/PriorSecrets.ts"
import { RackSecret } from "../../src/crypto/RackSecret.ts"

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const filled = (byte: number) => new Uint8Array(32).fill(byte)
const secretOf = (byte: number) => {
  const r = RackSecret.fromBytes(filled(byte))
  if (Result.isFailure(r)) throw new Error("bad secret")
  return r.success
}

const rackId = hex("0123456789abcdef0123456789abcdef")
const salt = filled(0xaa)
const vectorPrior = new Map([
  [6, secretOf(0x66)],
  [5, secretOf(0x55)]
])

describe("PriorSecrets", () => {
  it("derives the reference HKDF-SHA3-256 key", () => {
    assert.strictEqual(
      toHex(PriorSecrets.deriveKey(secretOf(0x11), salt, rackId, 7)),
      "1fe4427bc19c6799f52502a793a8e2d31ad6040d9dc81eb6adb47bce65976329"
    )
  })

  it("encrypts the reference plaintext to the reference ciphertext, records in ascending epoch order", () => {
    const { salt: usedSalt, data } = PriorSecrets.encrypt({
      secret: secretOf(0x11),
      rackId,
      epoch: 7,
      prior: vectorPrior,
      rng: (t) => t.set(salt)
    })
    assert.deepStrictEqual(usedSalt, salt)
    assert.strictEqual(
      toHex(data),
      "aa2e9ab7036dd87d4513b27348d2000d58d64ca083f8f30f5fe70b45e67a6dd4" +
        "511de5e3e813e3c5dc3ab1322ec158f223fe4f5d12f3d30d43118c8b8cc2eab8" +
        "a6f0796ab7a0b71218d1269e402b2d39643cca5e8d5ee007c5a643e1f5023e7f"
    )
  })

  it("decrypts what it encrypted", () => {
    const secret = RackSecret.generate()
    const { salt, data } = PriorSecrets.encrypt({ secret, rackId, epoch: 9, prior: vectorPrior })
    const back = PriorSecrets.decrypt({ secret, rackId, epoch: 9, salt, data })
    assert.isTrue(Result.isSuccess(back))
    if (Result.isFailure(back)) return
    assert.deepStrictEqual(Array.from(back.success.keys()), [5, 6])
    assert.isTrue(back.success.get(5)?.equals(secretOf(0x55)))
    assert.isTrue(back.success.get(6)?.equals(secretOf(0x66)))
  })

  it("a tampered ciphertext, a wrong epoch or a wrong secret fails with Aead", () => {
    const secret = secretOf(0x11)
    const { data } = PriorSecrets.encrypt({ secret, rackId, epoch: 7, prior: vectorPrior, rng: (t) => t.set(salt) })
    const tampered = Uint8Array.from(data)
    tampered[3] = (tampered[3] ?? 0) ^ 1
    const reasons = [
      PriorSecrets.decrypt({ secret, rackId, epoch: 7, salt, data: tampered }),
      PriorSecrets.decrypt({ secret, rackId, epoch: 8, salt, data }),
      PriorSecrets.decrypt({ secret: secretOf(0x12), rackId, epoch: 7, salt, data }),
      PriorSecrets.decrypt({ secret, rackId, epoch: 7, salt, data: data.subarray(0, 10) })
    ].map((r) => (Result.isFailure(r) ? r.failure.reason : "ok"))
    assert.deepStrictEqual(reasons, ["Aead", "Aead", "Aead", "Aead"])
  })

  it("a plaintext that is not whole records fails with InvalidLength", () => {
    // Seal 41 bytes (one record and a stray byte) under the right key, as a corrupt encoder would.
    const secret = secretOf(0x11)
    const key = PriorSecrets.deriveKey(secret, salt, rackId, 7)
    const cipher = createCipheriv("chacha20-poly1305", key, new Uint8Array(12), { authTagLength: 16 })
    const body = cipher.update(new Uint8Array(41))
    cipher.final()
    const sealed = Uint8Array.of(...body, ...cipher.getAuthTag())
    const r = PriorSecrets.decrypt({ secret, rackId, epoch: 7, salt, data: sealed })
    assert.isTrue(Result.isFailure(r) && r.failure.reason === "InvalidLength")
  })

  it("an empty chain encrypts to just the tag", () => {
    const { data } = PriorSecrets.encrypt({ secret: secretOf(0x11), rackId, epoch: 7, prior: new Map() })
    assert.strictEqual(data.length, 16)
  })
})
