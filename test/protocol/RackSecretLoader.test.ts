import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { authorizationOf, committedRack, craftedRack, failure, rackId, sled, unwrap } from "./TestCluster.ts"

const three = [0, 1, 2]

describe("RackSecretLoader: the rules of reference §4.6 in order", () => {
  it("a loaded epoch answers its secret before any other check, even once its commit is gone", () => {
    const { c } = committedRack()
    c.loadEverywhere([0], 1)
    c.node(0).ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.commits.delete(1)))
    assert.isTrue(Option.isSome(unwrap(c.node(0).loadRackSecret(1))))
    assert.strictEqual(failure(c.node(0).loadRackSecret(2))._tag, "NoCommittedConfigurations")
  })

  it("an epoch after the latest commit is NotCommitted before the loaded chain is consulted", () => {
    const { c } = committedRack()
    c.loadEverywhere([0], 1)
    const e = failure(c.node(0).loadRackSecret(2))
    assert.isTrue(e._tag === "NotCommitted" && e.epoch === 2)
  })

  it("an epoch missing from the loaded chain of the latest commit is NotAvailable, and no collection starts", () => {
    const { c } = committedRack()
    c.loadEverywhere([0], 1)
    const e = failure(c.node(0).loadRackSecret(0))
    assert.isTrue(e._tag === "NotAvailable" && e.epoch === 0)
    assert.isFalse(c.node(0).isCollectingSharesForRackSecret(0))
    assert.deepStrictEqual(c.node(0).ctx.envelopes, [])
  })
})

describe("RackSecretLoader alarms", () => {
  it("raises RackSecretReconstructionFailed when K validated shares do not make a secret", () => {
    const zero = (x: number) => ({ x, y: new Uint8Array(32) })
    const { c } = craftedRack({ size: 3, members: three, shares: [zero(1), zero(2), zero(3)], threshold: 2 })
    unwrap(c.node(0).loadRackSecret(1))
    c.deliverAll()
    assert.deepStrictEqual(
      c.node(0).ctx.alarms.map((a) => [a._tag, a._tag === "RackSecretReconstructionFailed" ? a.error._tag : ""]),
      [["RackSecretReconstructionFailed", "InvalidRackSecretSize"]]
    )
    assert.isTrue(Option.isNone(unwrap(c.node(0).loadRackSecret(1))))
  })

  it("raises RackSecretDecryptionFailed when the reconstructed secret does not decrypt the chain", () => {
    const created = unwrap(
      Configuration.newConfiguration(
        {
          rackId,
          epoch: 1,
          members: three.map(sled),
          threshold: 2,
          coordinator: sled(0),
          authorization: authorizationOf({ epoch: 1, members: three, threshold: 2, lastCommittedEpoch: null }, 0)
        },
        seeded("loader")
      )
    )
    const shares = three.map((i) => created.shares.get(sled(i).key) ?? { x: 0, y: new Uint8Array() })
    const garbage = new Configuration.EncryptedRackSecrets({
      salt: new Uint8Array(32),
      data: new Uint8Array(56).fill(7)
    })
    const { c } = craftedRack({ size: 3, members: three, shares, threshold: 2, encryptedRackSecrets: garbage })
    unwrap(c.node(0).loadRackSecret(1))
    c.deliverAll()
    assert.deepStrictEqual(
      c
        .node(0)
        .ctx.alarms.map((a) => [a._tag, a._tag === "RackSecretDecryptionFailed" ? [a.epoch, a.error.reason] : []]),
      [["RackSecretDecryptionFailed", [1, "Aead"]]]
    )
    assert.deepStrictEqual(c.node(0).loadedEpochs(), [])
  })
})
