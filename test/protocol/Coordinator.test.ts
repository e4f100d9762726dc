import { assert, describe, it } from "@effect/vitest"
import { Option, Result } from "effect"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import { Coordinator } from "../../src/protocol/Coordinator.ts"
import { NodeCtx } from "../../src/protocol/NodeCtx.ts"
import { Policy } from "../../src/protocol/Policy.ts"
import { seeded } from "../../src/testing/SeededRng.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import { ShareReply } from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { digestEquals } from "../../src/types/Share.ts"
import {
  authority,
  authorizationOf,
  committedRack,
  coordinate,
  craftedRack,
  peerMsg,
  rackId,
  reconfigureMsg,
  sled,
  summary,
  TestCluster,
  unwrap
} from "./TestCluster.ts"

const four = [0, 1, 2, 3]
const second = (members: ReadonlyArray<number> = four, threshold = 3) => ({
  epoch: 2,
  members,
  threshold,
  lastCommittedEpoch: 1
})
const shareReply = (c: TestCluster, i: number, epoch = 1) => {
  const share = c.node(i).ctx.persistentState.shares.get(epoch)
  if (share === undefined) throw new Error(`node ${i} has no share of ${epoch}`)
  return peerMsg(new ShareReply({ epoch, share }))
}

describe("Coordinator: collecting the old epoch's shares", () => {
  it("persists nothing until it holds K shares of the old epoch, then persists the final configuration and prepares", () => {
    const { c } = committedRack()
    const node = c.node(1)
    unwrap(coordinate(node, second()))
    assert.isFalse(node.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(node.coordinating(), { epoch: 2, op: "CollectShares", ackedPrepares: [] })
    const collecting = node.coordinatorStatus()
    assert.isTrue(collecting !== undefined && Option.isNone(collecting.config.encryptedRackSecrets))
    assert.deepStrictEqual(collecting?.ackedPrepares, [])
    assert.deepStrictEqual(node.status().persistentState.configs, [1])
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [
      ["0", "GetShare"],
      ["2", "GetShare"],
      ["3", "GetShare"]
    ])
    // The own share and one peer's: 2 of K = 3.
    node.handle(sled(2), shareReply(c, 2))
    assert.isFalse(node.ctx.persistentStateChangeCheckAndReset())
    // The same share again is not counted twice.
    node.handle(sled(2), shareReply(c, 2))
    assert.isFalse(node.ctx.persistentStateChangeCheckAndReset())
    assert.strictEqual(node.coordinating()?.op, "CollectShares")
    node.handle(sled(3), shareReply(c, 3))
    assert.isTrue(node.ctx.persistentStateChangeCheckAndReset())
    assert.strictEqual(node.coordinating()?.op, "Prepare")
    const persisted = node.ctx.persistentState.configs.get(2)
    const status = node.coordinatorStatus()
    assert.isTrue(persisted !== undefined && Option.isSome(persisted.encryptedRackSecrets))
    assert.isTrue(persisted !== undefined && status !== undefined && Configuration.equals(persisted, status.config))
    const own = node.ctx.persistentState.shares.get(2)
    const digest = persisted?.digestOf(sled(1))
    assert.isTrue(own !== undefined && digest !== undefined && digestEquals(shareDigest(own), digest))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [
      ["0", "Prepare"],
      ["2", "Prepare"],
      ["3", "Prepare"]
    ])
  })

  it("asks the connected members of the old configuration, including one being removed, and each again on connect until it answered", () => {
    const { c } = committedRack({ size: 5 })
    c.isolate(1)
    c.connect(1, 0)
    const node = c.node(1)
    unwrap(coordinate(node, second([0, 1, 2], 2)))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [["0", "GetShare"]])
    node.onConnect(sled(3))
    node.onConnect(sled(4))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [["3", "GetShare"]])
    node.handle(sled(3), shareReply(c, 3))
    node.onConnect(sled(3))
    assert.deepStrictEqual(node.ctx.drainEnvelopes(), [])
  })

  it("every Prepare carries its own copy of the share, so zeroing a sent one does not spoil a resend", () => {
    const c = new TestCluster(4)
    const node = c.node(0)
    unwrap(coordinate(node, { ...second(), epoch: 1, lastCommittedEpoch: null }))
    const config = node.coordinatorStatus()?.config
    const digest = config?.digestOf(sled(1))
    node.onConnect(sled(1))
    const [sent] = node.ctx.drainEnvelopes()
    if (sent?.msg.kind._tag !== "Prepare" || digest === undefined) throw new Error("no Prepare")
    sent.msg.kind.share.y.fill(0)
    node.onConnect(sled(1))
    const [resent] = node.ctx.drainEnvelopes()
    assert.isTrue(resent?.msg.kind._tag === "Prepare" && digestEquals(shareDigest(resent.msg.kind.share), digest))
  })

  it("stays collecting, without an alarm, when the old shares do not reconstruct a secret (§9.7)", () => {
    // Honest members never hold these: all-zero shares combine to an all-zero (invalid) secret.
    const zero = (x: number) => ({ x, y: new Uint8Array(32) })
    const { c } = craftedRack({ size: 3, members: [0, 1, 2], shares: [zero(1), zero(2), zero(3)], threshold: 2 })
    const node = c.node(0)
    unwrap(coordinate(node, second([0, 1, 2], 2)))
    node.handle(sled(1), shareReply(c, 1))
    assert.strictEqual(node.coordinating()?.op, "CollectShares")
    assert.isFalse(node.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(node.ctx.alarms, [])
  })

  it("stays collecting, without an alarm, when the old configuration's chain does not decrypt (§9.7)", () => {
    const created = unwrap(
      Configuration.newConfiguration(
        {
          rackId,
          epoch: 1,
          members: [0, 1, 2].map(sled),
          threshold: 2,
          coordinator: sled(0),
          authorization: authorizationOf({ epoch: 1, members: [0, 1, 2], threshold: 2, lastCommittedEpoch: null }, 0)
        },
        seeded("chain")
      )
    )
    const shares = [0, 1, 2].map((i) => created.shares.get(sled(i).key) ?? { x: 0, y: new Uint8Array() })
    const garbage = new Configuration.EncryptedRackSecrets({
      salt: new Uint8Array(32),
      data: new Uint8Array(56).fill(7)
    })
    const { c } = craftedRack({ size: 3, members: [0, 1, 2], shares, threshold: 2, encryptedRackSecrets: garbage })
    const node = c.node(0)
    unwrap(coordinate(node, second([0, 1, 2], 2)))
    node.handle(sled(1), shareReply(c, 1))
    assert.strictEqual(node.coordinating()?.op, "CollectShares")
    assert.deepStrictEqual(node.ctx.alarms, [])
  })

  it("returns a configuration error as a value when asked for an impossible split", () => {
    const ctx = new NodeCtx(sled(0), PersistentState.empty, new Policy(authority.publicKey))
    const started = Coordinator.start(
      ctx,
      reconfigureMsg({ epoch: 1, members: [0, 1, 2], threshold: 1, lastCommittedEpoch: null }, 0),
      seeded(1)
    )
    assert.isTrue(Result.isFailure(started))
    if (Result.isFailure(started)) {
      assert.strictEqual(started.failure._tag, "ConfigurationError")
      assert.strictEqual(started.failure.reason, "ThresholdTooSmall")
    }
    assert.isFalse(ctx.persistentStateChangeCheckAndReset())
  })
})
