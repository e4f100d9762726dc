import { assert, describe, it } from "@effect/vitest"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import { digestEquals } from "../../src/types/Share.ts"
import { craftedRack, proofOf, sled, summary, TestCluster, unwrap } from "./TestCluster.ts"

const four = [0, 1, 2, 3]

describe("KeyShareComputer", () => {
  it("asks a member for its share when it connects, unless it already answered", () => {
    const c = new TestCluster(5)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, { epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    const node = c.node(3)
    unwrap(node.prepareAndCommit(config, proofOf(config)))
    assert.deepStrictEqual(node.ctx.drainEnvelopes(), [])
    c.connect(3, 0)
    c.connect(3, 4)
    assert.deepStrictEqual(summary(c.inFlight), [["0", "GetShare"]])
    c.deliverAll()
    c.connect(3, 0)
    c.connect(3, 1)
    assert.deepStrictEqual(summary(c.inFlight), [["1", "GetShare"]])
  })

  it("persists the computed share and the commit together, once K shares arrived", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, { epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    unwrap(c.node(3).prepareAndCommit(config, proofOf(config)))
    c.flush()
    c.connect(3, 0)
    c.connect(3, 1)
    c.deliverAll()
    assert.deepStrictEqual(c.disk(3).commits, new Set())
    c.connect(3, 2)
    c.deliverAll()
    const share = c.disk(3).shares.get(1)
    const digest = config.digestOf(sled(3))
    assert.deepStrictEqual(c.disk(3).commits, new Set([1]))
    assert.isTrue(share !== undefined && digest !== undefined && digestEquals(shareDigest(share), digest))
  })

  it("raises ShareComputationFailed when K validated shares do not interpolate, and keeps waiting", () => {
    // Two shares at one x-coordinate: only a configuration the control plane should never sign holds these.
    const shares = [
      { x: 1, y: new Uint8Array(32).fill(1) },
      { x: 1, y: new Uint8Array(32).fill(2) },
      { x: 3, y: new Uint8Array(32).fill(3) },
      { x: 4, y: new Uint8Array(32).fill(4) }
    ]
    const { c, config } = craftedRack({ size: 4, members: four, shares, threshold: 2, committed: [0, 1] })
    c.isolate(3)
    c.connect(3, 0)
    c.connect(3, 1)
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config, proofOf(config))), "Pending")
    c.deliverAll()
    const alarms = c.node(3).ctx.alarms
    assert.deepStrictEqual(
      alarms.map((a) => [a._tag, a._tag === "ShareComputationFailed" ? [a.epoch, a.error._tag] : []]),
      [["ShareComputationFailed", [1, "DuplicateXCoordinates"]]]
    )
    assert.isTrue(c.node(3).isComputingKeyShare())
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config, proofOf(config))), "Pending")
  })
})
