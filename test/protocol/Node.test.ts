import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import { digestEquals } from "../../src/types/Share.ts"
import { Cluster, failure, rackId, sled, unwrap } from "./cluster.ts"

const four = [0, 1, 2, 3]

describe("Node: a first configuration", () => {
  it("4 nodes, K=3: every member prepares, commits and loads the same secret", () => {
    const c = new Cluster(4)
    c.connectAll()
    unwrap(
      c
        .node(0)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
        )
    )
    // The initial coordinator persists its share and the configuration at once.
    assert.isTrue(c.node(0).ctx.persistentStateChangeCheckAndReset())
    c.deliverAll()
    const status = c.node(0).coordinatorStatus()
    assert.deepStrictEqual(
      status?.ackedPrepares.map(String),
      four.map((i) => String(sled(i)))
    )
    for (const i of four) assert.strictEqual(unwrap(c.node(i).commitConfiguration(rackId, 1)), "Committed")
    assert.isUndefined(c.node(0).coordinatorStatus())
    const secrets = c.loadEverywhere(four, 1)
    for (const s of secrets) assert.isTrue(s.equals(secrets[0] ?? s))
  })

  it("each member's persisted share matches the digest the configuration records for it", () => {
    const c = new Cluster(4)
    c.connectAll()
    const config = c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    for (const i of four) {
      const share = c.node(i).ctx.persistentState.shares.get(1)
      const digest = config.digestOf(sled(i))
      assert.isTrue(share !== undefined && digest !== undefined && digestEquals(shareDigest(share), digest))
      assert.strictEqual(share?.x, config.indexOf(sled(i)) + 1)
    }
  })

  it("a retry of the same reconfiguration after it was persisted fails with PreparedEpochMismatch", () => {
    const c = new Cluster(4)
    const msg = c.reconfigureMsg({ epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    unwrap(c.node(0).coordinateReconfiguration(msg))
    const e = failure(c.node(0).coordinateReconfiguration(msg))
    assert.strictEqual(e._tag, "PreparedEpochMismatch")
  })
})

describe("Node: reconfiguration", () => {
  it("the coordinator persists nothing until it has collected K shares of the old epoch", () => {
    const c = new Cluster(4)
    c.connectAll()
    c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    c.deliverAll()
    const coordinator = c.node(1)
    unwrap(
      coordinator.coordinateReconfiguration(
        c.reconfigureMsg({ epoch: 2, members: four, threshold: 3, lastCommittedEpoch: 1 })
      )
    )
    assert.isFalse(coordinator.ctx.persistentStateChangeCheckAndReset())
    assert.strictEqual(coordinator.coordinating()?.op, "CollectShares")
    assert.isTrue(Option.isNone(coordinator.coordinatorStatus()?.config.encryptedRackSecrets ?? Option.none()))
    // A retry while collecting is a no-op.
    unwrap(
      coordinator.coordinateReconfiguration(
        c.reconfigureMsg({ epoch: 2, members: four, threshold: 3, lastCommittedEpoch: 1 })
      )
    )
    // Deliver GetShares and exactly one Share: 2 of 3 old shares (own + one) — still collecting.
    const asks = coordinator.ctx.drainEnvelopes()
    assert.deepStrictEqual(
      asks.map((e) => e.msg.kind._tag),
      ["GetShare", "GetShare", "GetShare"]
    )
    const first = asks[0]
    if (first === undefined) throw new Error("no GetShare")
    c.node(Number(first.to.serialNumber)).handle(coordinator.id, first.msg)
    const reply = c.node(Number(first.to.serialNumber)).ctx.drainEnvelopes()[0]
    if (reply === undefined) throw new Error("no reply")
    coordinator.handle(reply.from, reply.msg)
    assert.isFalse(coordinator.ctx.persistentStateChangeCheckAndReset())
    assert.strictEqual(coordinator.coordinating()?.op, "CollectShares")
    // The same share again is not counted twice.
    coordinator.handle(reply.from, reply.msg)
    assert.strictEqual(coordinator.coordinating()?.op, "CollectShares")
    // A second peer's share reaches K = 3: the coordinator persists and prepares.
    const second = asks[1]
    if (second === undefined) throw new Error("no second GetShare")
    c.node(Number(second.to.serialNumber)).handle(coordinator.id, second.msg)
    const reply2 = c.node(Number(second.to.serialNumber)).ctx.drainEnvelopes()[0]
    if (reply2 === undefined) throw new Error("no reply")
    coordinator.handle(reply2.from, reply2.msg)
    assert.isTrue(coordinator.ctx.persistentStateChangeCheckAndReset())
    assert.strictEqual(coordinator.coordinating()?.op, "Prepare")
    assert.isTrue(Option.isSome(coordinator.ctx.persistentState.configs.get(2)?.encryptedRackSecrets ?? Option.none()))
  })

  it("after three reconfigurations the latest secret unlocks every committed epoch; an aborted one never appears", () => {
    const c = new Cluster(5)
    c.connectAll()
    c.commitEpoch({ coordinator: 0, epoch: 1, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: null })
    const s1 = c.loadEverywhere([0], 1)[0]
    // Epoch 2 is started and abandoned (never committed); epoch 3 is built on epoch 1.
    unwrap(
      c
        .node(1)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
        )
    )
    c.deliverAll()
    c.commitEpoch({ coordinator: 2, epoch: 3, members: [0, 1, 2, 3, 4], threshold: 3, lastCommittedEpoch: 1 })
    c.deliverAll()
    c.commitEpoch({ coordinator: 4, epoch: 4, members: [1, 2, 3, 4], threshold: 3, lastCommittedEpoch: 3 })
    c.deliverAll()
    c.node(3).clearSecrets()
    const [s4] = c.loadEverywhere([3], 4)
    assert.isDefined(s4)
    const s1again = unwrap(c.node(3).loadRackSecret(1))
    assert.isTrue(Option.isSome(s1again) && s1 !== undefined && s1again.value.equals(s1))
    assert.isTrue(Option.isSome(unwrap(c.node(3).loadRackSecret(3))))
    assert.strictEqual(failure(c.node(3).loadRackSecret(2))._tag, "NotAvailable")
    assert.strictEqual(failure(c.node(3).loadRackSecret(5))._tag, "NotCommitted")
  })
})

describe("Node: members that missed the prepare", () => {
  it("PrepareAndCommit rebuilds the share of a node that was offline during prepare", () => {
    const c = new Cluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    const late = c.node(3)
    assert.deepStrictEqual(late.status().persistentState, { configs: [], shares: [], commits: [], expunged: null })
    for (const i of [0, 1, 2]) c.connect(i, 3)
    c.deliverAll()
    assert.strictEqual(unwrap(late.prepareAndCommit(config)), "Pending")
    assert.isTrue(late.isComputingKeyShare())
    c.deliverAll()
    assert.isFalse(late.isComputingKeyShare())
    assert.strictEqual(unwrap(late.prepareAndCommit(config)), "Committed")
    const share = late.ctx.persistentState.shares.get(1)
    const digest = config.digestOf(sled(3))
    assert.isTrue(share !== undefined && digest !== undefined && digestEquals(shareDigest(share), digest))
    const [a, b] = c.loadEverywhere([0, 3], 1)
    assert.isTrue(a !== undefined && b !== undefined && a.equals(b))
  })

  it("CommitAdvance brings a node stuck at epoch 1 to epoch 2 when it asks for a share", () => {
    const c = new Cluster(4)
    c.connectAll()
    c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    c.deliverAll()
    for (const i of [0, 1, 2]) c.disconnect(i, 3)
    c.commitEpoch({ coordinator: 1, epoch: 2, members: four, threshold: 3, lastCommittedEpoch: 1 })
    c.deliverAll()
    const stuck = c.node(3)
    assert.deepStrictEqual(stuck.status().persistentState.commits, [1])
    for (const i of [0, 1, 2]) c.connect(i, 3)
    stuck.clearSecrets()
    unwrap(stuck.loadRackSecret(1))
    c.deliverAll()
    assert.deepStrictEqual(stuck.status().persistentState.commits, [1, 2])
    const [a, b] = c.loadEverywhere([0, 3], 2)
    assert.isTrue(a !== undefined && b !== undefined && a.equals(b))
  })

  it("PrepareAndCommit answers NotAMember to a node outside the configuration", () => {
    const c = new Cluster(5)
    c.connectAll()
    const one = c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    const e = failure(c.node(4).prepareAndCommit(one))
    assert.strictEqual(e._tag, "NotAMember")
    assert.deepStrictEqual(c.node(4).status().persistentState.configs, [])
  })

  it("commit and PrepareAndCommit answer Superseded for an epoch older than the node's last commit", () => {
    const c = new Cluster(4)
    c.connectAll([0, 1, 2])
    const one = c.commitEpoch({ coordinator: 0, epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null })
    for (const i of [0, 1, 2]) c.connect(i, 3)
    c.deliverAll()
    c.commitEpoch({ coordinator: 1, epoch: 2, members: four, threshold: 3, lastCommittedEpoch: 1 })
    const node3 = c.node(3)
    assert.deepStrictEqual(node3.status().persistentState.commits, [2])
    const viaPrepareAndCommit = failure(node3.prepareAndCommit(one))
    assert.isTrue(viaPrepareAndCommit._tag === "Superseded" && viaPrepareAndCommit.latestCommitted === 2)
    assert.strictEqual(failure(node3.commitConfiguration(rackId, 1))._tag, "Superseded")
    assert.strictEqual(unwrap(node3.commitConfiguration(rackId, 2)), "Committed")
  })
})

describe("Node: expungement", () => {
  it("a removed node learns it is expunged when it asks for a share, then refuses operations", () => {
    const c = new Cluster(5)
    c.connectAll()
    c.commitEpoch({ coordinator: 0, epoch: 1, members: [0, 1, 2, 3, 4], threshold: 3, lastCommittedEpoch: null })
    c.deliverAll()
    c.disconnect(0, 4)
    c.disconnect(1, 4)
    c.disconnect(2, 4)
    c.disconnect(3, 4)
    c.commitEpoch({ coordinator: 0, epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
    c.deliverAll()
    c.connectAll()
    const removed = c.node(4)
    removed.clearSecrets()
    unwrap(removed.loadRackSecret(1))
    c.deliverAll()
    const expunged = removed.ctx.persistentState.expunged
    assert.isTrue(Option.isSome(expunged) && expunged.value.epoch === 2)
    assert.strictEqual(failure(removed.commitConfiguration(rackId, 2))._tag, "Expunged")
    assert.strictEqual(
      failure(
        removed.coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 3, members: [0, 1, 4], threshold: 2, lastCommittedEpoch: 1 })
        )
      )._tag,
      "DecommissionedSled"
    )
    // An expunged node drops every peer message.
    removed.handle(
      sled(0),
      c.delivered[0]?.msg ??
        (() => {
          throw new Error("no message")
        })()
    )
    assert.strictEqual(removed.ctx.envelopes.length, 0)
  })
})
