import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Rules from "../../src/protocol/NetworkConfig.ts"
import * as TestAuthority from "../../src/testing/TestAuthority.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import * as Decision from "../../src/types/Decision.ts"
import { blobDigest, maxBlobBytes, NetworkConfig } from "../../src/types/NetworkConfig.ts"

const authority = TestAuthority.fromLabel("network-config rules")
const forger = TestAuthority.fromLabel("network-config rules: forger")
const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const otherRack = "99999999-8888-4777-8666-555555555555"
const peer = BaseboardId.make("913-0000019", "7")
const blob = (g: number) => new TextEncoder().encode(`config ${g}`)
const signed = (g: number, b: Uint8Array = blob(g), rack: string = rackId) =>
  Decision.networkConfig(authority, { rackId: rack, generation: g, blob: b })
const knowsRack = { authority: authority.publicKey, rackId }
const newSled = { authority: authority.publicKey, rackId: undefined }

describe("network-config statement", () => {
  it("is domain-separated, binds rack, generation and blob digest, and verifies only under the authority", () => {
    const statement = Decision.networkConfigStatement({ rackId, generation: 3, blob: blob(3) })
    const prefix = new TextEncoder().encode("trust-quorum-v1 network-config\0")
    assert.deepStrictEqual(statement.subarray(0, prefix.length), prefix)
    // prefix ‖ rack id (16) ‖ generation u64 (8) ‖ SHA3-256 (32)
    assert.strictEqual(statement.length, prefix.length + 16 + 8 + 32)
    assert.deepStrictEqual(statement.subarray(prefix.length + 24), blobDigest(blob(3)))
    assert.deepStrictEqual(
      Array.from(statement.subarray(prefix.length + 16, prefix.length + 24)),
      [0, 0, 0, 0, 0, 0, 0, 3]
    )
    assert.isTrue(Decision.verifyNetworkConfig(authority.publicKey, signed(3)))
    assert.isFalse(Decision.verifyNetworkConfig(forger.publicKey, signed(3)))
    for (const changed of [
      new NetworkConfig({ ...signed(3), generation: 4 }),
      new NetworkConfig({ ...signed(3), blob: blob(4) }),
      new NetworkConfig({ ...signed(3), rackId: otherRack })
    ]) {
      assert.isFalse(Decision.verifyNetworkConfig(authority.publicKey, changed))
    }
  })
})

describe("network-config rules", () => {
  it("an update must be above the current generation; equal is stale too", () => {
    assert.isTrue(Result.isSuccess(Rules.update(undefined, signed(1), knowsRack)))
    assert.isTrue(Result.isSuccess(Rules.update(signed(1), signed(2), knowsRack)))
    for (const g of [1, 2]) {
      const refused = Rules.update(signed(2), signed(g), knowsRack)
      assert.isTrue(Result.isFailure(refused))
      if (Result.isFailure(refused)) {
        assert.strictEqual(refused.failure._tag, "StaleNetworkConfig")
        assert.include(refused.failure, { attemptedGeneration: g, currentGeneration: 2 })
      }
    }
  })

  it("refuses oversize, unsigned, forged and other-rack configs, oversize first", () => {
    const tag = (r: Result.Result<unknown, { readonly _tag: string }>) => (Result.isFailure(r) ? r.failure._tag : "ok")
    const unsigned = new NetworkConfig({ ...signed(1), signature: new Uint8Array(0) })
    const hugeUnsigned = new NetworkConfig({ ...unsigned, blob: new Uint8Array(maxBlobBytes + 1) })
    assert.strictEqual(tag(Rules.update(undefined, signed(1, new Uint8Array(maxBlobBytes)), knowsRack)), "ok")
    assert.strictEqual(tag(Rules.update(undefined, hugeUnsigned, knowsRack)), "NetworkConfigTooLarge")
    assert.strictEqual(tag(Rules.update(undefined, unsigned, knowsRack)), "NetworkConfigNotAuthorized")
    const forged = Decision.networkConfig(forger, { rackId, generation: 1, blob: blob(1) })
    assert.strictEqual(tag(Rules.update(undefined, forged, knowsRack)), "NetworkConfigNotAuthorized")
    assert.strictEqual(tag(Rules.update(undefined, signed(1, blob(1), otherRack), knowsRack)), "NetworkConfigWrongRack")
  })

  it("a node that knows no rack yet pins the rack of the config it holds", () => {
    assert.isTrue(Result.isSuccess(Rules.update(undefined, signed(1, blob(1), otherRack), newSled)))
    const later = Rules.update(signed(1), signed(2, blob(2), otherRack), newSled)
    assert.isTrue(Result.isFailure(later) && later.failure._tag === "NetworkConfigWrongRack")
    assert.strictEqual(Rules.expectedRack(signed(1, blob(1), otherRack), knowsRack), rackId)
  })

  it("a push is adopted above, ignored at or below, and refused with a reason when no honest peer would send it", () => {
    assert.deepStrictEqual(Rules.receive(signed(2), peer, signed(3), knowsRack), { _tag: "Adopt", config: signed(3) })
    assert.deepStrictEqual(Rules.receive(undefined, peer, signed(1), knowsRack), { _tag: "Adopt", config: signed(1) })
    assert.deepStrictEqual(Rules.receive(signed(2), peer, signed(1), knowsRack), { _tag: "Ignore", reason: "Stale" })
    assert.deepStrictEqual(Rules.receive(signed(2), peer, signed(2), knowsRack), { _tag: "Ignore", reason: "Current" })
    const reason = (pushed: NetworkConfig) => {
      const receipt = Rules.receive(signed(2), peer, pushed, knowsRack)
      return receipt._tag === "Refuse" ? receipt.reason : receipt._tag
    }
    assert.strictEqual(
      reason(new NetworkConfig({ ...signed(3), signature: new Uint8Array(0) })),
      "NetworkConfigUnsigned"
    )
    assert.strictEqual(reason(new NetworkConfig({ ...signed(3), blob: blob(4) })), "NetworkConfigBadSignature")
    assert.strictEqual(reason(signed(3, new Uint8Array(maxBlobBytes + 1))), "NetworkConfigTooLarge")
    assert.strictEqual(reason(signed(3, blob(3), otherRack)), "NetworkConfigWrongRack")
    assert.strictEqual(reason(signed(2, blob(9))), "NetworkConfigConflict")
    const refusal = Rules.receive(signed(2), peer, signed(3, blob(3), otherRack), knowsRack)
    assert.isTrue(refusal._tag === "Refuse" && refusal.detail.startsWith("913-0000019:7 pushed a network config"))
  })

  it("a stored config is restored only if it still verifies against the pinned key", () => {
    assert.isTrue(Result.isSuccess(Rules.restore(signed(4), knowsRack)))
    const replacedKey = { authority: forger.publicKey, rackId }
    assert.isTrue(Result.isFailure(Rules.restore(signed(4), replacedKey)))
  })
})
