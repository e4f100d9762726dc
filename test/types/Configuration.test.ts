import { assert, describe, it } from "@effect/vitest"
import { Option, Result, Schema } from "effect"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import * as Gfss from "../../src/gfss/Gfss.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as BaseboardId from "../../src/types/BaseboardId.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import { digestEquals } from "../../src/types/Share.ts"

/** A placeholder signed reconfiguration: these tests exercise the data types, not the signatures. */
const authorization = { lastCommittedEpoch: null, signature: new Uint8Array(64) }

const rackId = "0123e456-789a-4bcd-8f01-23456789abcd"
const sleds = (serials: ReadonlyArray<string>) => serials.map((s) => BaseboardId.make("913-0000019", s))

const make = (serials: ReadonlyArray<string>, threshold: number) => {
  const members = sleds(serials)
  const coordinator = members[0] ?? BaseboardId.make("913-0000019", "0")
  return Configuration.newConfiguration({ rackId, epoch: 1, members, threshold, coordinator, authorization }, seeded(1))
}

const unwrap = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`unexpected failure: ${String(r.failure)}`)
  return r.success
}

describe("newConfiguration", () => {
  it("records the digest of each member's share", () => {
    const { configuration, shares } = unwrap(make(["0", "1", "2", "3"], 3))
    assert.strictEqual(configuration.members.length, 4)
    for (const { id, digest } of configuration.members) {
      const share = shares.get(id.key)
      assert.isDefined(share)
      if (share) assert.isTrue(digestEquals(shareDigest(share), digest))
    }
  })

  it("hands x-coordinates out in bytewise member order", () => {
    const { configuration, shares } = unwrap(make(["2", "10", "1", "0"], 3))
    assert.deepStrictEqual(
      configuration.members.map((m) => m.id.serialNumber),
      ["0", "1", "10", "2"]
    )
    assert.deepStrictEqual(
      configuration.members.map((m) => shares.get(m.id.key)?.x),
      [1, 2, 3, 4]
    )
    assert.strictEqual(configuration.indexOf(BaseboardId.make("913-0000019", "10")), 2)
  })

  it("splits one secret: any threshold of the shares recombine to the same bytes", () => {
    const { shares } = unwrap(make(["0", "1", "2", "3", "4"], 3))
    const all = Array.from(shares.values())
    const a = unwrap(Gfss.combine(all.slice(0, 3)))
    const b = unwrap(Gfss.combine(all.slice(2, 5)))
    assert.deepStrictEqual(a, b)
  })

  it("is deterministic for a seeded rng", () => {
    const a = unwrap(make(["0", "1", "2"], 2)).configuration
    const b = unwrap(make(["0", "1", "2"], 2)).configuration
    assert.isTrue(Configuration.equals(a, b))
  })

  it("leaves the encrypted prior secrets empty", () => {
    const { configuration } = unwrap(make(["0", "1", "2"], 2))
    assert.isTrue(Option.isNone(configuration.encryptedRackSecrets))
  })

  it("fails with ThresholdTooSmall and TooFewTotalShares", () => {
    const small = make(["0", "1", "2"], 1)
    assert.isTrue(Result.isFailure(small) && small.failure.reason === "ThresholdTooSmall")
    const big = make(["0", "1", "2"], 4)
    assert.isTrue(Result.isFailure(big) && big.failure.reason === "TooFewTotalShares")
    if (Result.isFailure(big)) assert.match(big.failure.message, /threshold 4 exceeds the 3 members/)
  })

  it("fails with TooManyMembers beyond 255 members", () => {
    const r = make(
      Array.from({ length: 256 }, (_, i) => String(i)),
      3
    )
    assert.isTrue(Result.isFailure(r) && r.failure.reason === "TooManyMembers")
  })

  it("round-trips through its JSON codec, bytes as base64", () => {
    const { configuration } = unwrap(make(["0", "1", "2"], 2))
    const codec = Schema.toCodecJson(Configuration.Configuration)
    const json = Schema.encodeSync(codec)(configuration)
    const text = JSON.stringify(json)
    assert.notInclude(text, "Uint8Array")
    const back = Schema.decodeUnknownSync(codec)(JSON.parse(text))
    assert.isTrue(Configuration.equals(configuration, back))
  })

  it("refuses to decode members out of bytewise order", () => {
    const { configuration } = unwrap(make(["0", "1", "2"], 2))
    const encoded = Schema.encodeSync(Configuration.Configuration)(configuration)
    const reversed = { ...encoded, members: [...encoded.members].reverse() }
    assert.strictEqual(Schema.decodeUnknownExit(Configuration.Configuration)(reversed)._tag, "Failure")
  })

  it("equals notices a different digest", () => {
    const a = unwrap(make(["0", "1", "2"], 2)).configuration
    const other = Configuration.newConfiguration(
      {
        rackId,
        epoch: 1,
        members: sleds(["0", "1", "2"]),
        threshold: 2,
        coordinator: sleds(["0"])[0] ?? a.coordinator,
        authorization
      },
      seeded(2)
    )
    assert.isFalse(Configuration.equals(a, unwrap(other).configuration))
  })
})
