import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { Node } from "../../src/protocol/Node.ts"
import {
  CommitAdvance,
  ExpungedReply,
  GetShare,
  PeerMsg,
  Prepare,
  PrepareAck,
  ShareReply
} from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { Cluster, rackId, sled, unwrap } from "./cluster.ts"

const otherRack = "9999e456-789a-4bcd-8f01-23456789abcd"

/** A committed 4-node rack at epoch 1 (all connected), plus a fifth, unconnected new node. */
const rack = () => {
  const c = new Cluster(5)
  c.connectAll([0, 1, 2, 3])
  const config = c.commitEpoch({
    coordinator: 0,
    epoch: 1,
    members: [0, 1, 2, 3],
    threshold: 3,
    lastCommittedEpoch: null
  })
  c.deliverAll()
  return { c, config }
}

const kinds = (n: Node) => n.ctx.drainEnvelopes().map((e) => e.msg.kind._tag)

describe("peer messages: the receiver preamble", () => {
  it("a message naming another rack is dropped", () => {
    const { c } = rack()
    c.node(1).handle(sled(0), new PeerMsg({ rackId: otherRack, kind: new GetShare({ epoch: 1 }) }))
    assert.deepStrictEqual(kinds(c.node(1)), [])
  })

  it("an expunged node drops everything", () => {
    const n = new Node({
      id: sled(1),
      persistentState: PersistentState.update(rack().c.node(1).ctx.persistentState, (d) => {
        d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 1, from: sled(0) }))
      })
    })
    n.onConnect(sled(0))
    n.handle(sled(0), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    assert.deepStrictEqual(kinds(n), [])
  })

  it("a node with no rack id accepts any rack id", () => {
    const { c, config } = rack()
    const share = c.node(3).ctx.persistentState.shares.get(1)
    if (!share) throw new Error("no share")
    const fresh = new Node({ id: sled(3) })
    fresh.handle(sled(0), new PeerMsg({ rackId: config.rackId, kind: new Prepare({ config, share }) }))
    assert.deepStrictEqual(kinds(fresh), ["PrepareAck"])
  })
})

describe("peer messages: Prepare", () => {
  it("is stored and acknowledged; a duplicate is acknowledged again", () => {
    const { c, config } = rack()
    const share = c.node(2).ctx.persistentState.shares.get(1)
    if (!share) throw new Error("no share")
    const fresh = new Node({ id: sled(2) })
    const prepare = new PeerMsg({ rackId, kind: new Prepare({ config, share }) })
    fresh.handle(sled(0), prepare)
    assert.isTrue(fresh.ctx.persistentStateChangeCheckAndReset())
    assert.isTrue(PersistentState.hasPrepared(fresh.ctx.persistentState, 1))
    fresh.handle(sled(0), prepare)
    assert.deepStrictEqual(kinds(fresh), ["PrepareAck", "PrepareAck"])
  })

  it("for an epoch older than the last commit is dropped without an ack", () => {
    const { c, config } = rack()
    c.commitEpoch({ coordinator: 0, epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
    c.deliverAll()
    const share = c.node(1).ctx.persistentState.shares.get(1)
    if (!share) throw new Error("no share")
    c.node(1).handle(sled(0), new PeerMsg({ rackId, kind: new Prepare({ config, share }) }))
    assert.deepStrictEqual(kinds(c.node(1)), [])
  })

  it("for a configuration the node is not a member of is dropped without an ack", () => {
    const { c, config } = rack()
    const share = c.node(1).ctx.persistentState.shares.get(1)
    if (!share) throw new Error("no share")
    c.node(4).handle(sled(0), new PeerMsg({ rackId, kind: new Prepare({ config, share }) }))
    assert.deepStrictEqual(kinds(c.node(4)), [])
    assert.isFalse(c.node(4).ctx.persistentStateChangeCheckAndReset())
  })

  it("for a newer epoch cancels the receiver's older coordination", () => {
    const { c } = rack()
    unwrap(
      c
        .node(1)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
        )
    )
    c.node(1).ctx.drainEnvelopes()
    unwrap(
      c
        .node(2)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 3, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
        )
    )
    c.deliverAll()
    assert.isUndefined(c.node(1).coordinating())
    assert.strictEqual(c.node(2).coordinating()?.epoch, 3)
  })
})

describe("peer messages: PrepareAck", () => {
  it("from a non-member or for another epoch is ignored", () => {
    const c = new Cluster(5)
    unwrap(
      c
        .node(0)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 1, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: null })
        )
    )
    c.node(0).handle(sled(4), new PeerMsg({ rackId, kind: new PrepareAck({ epoch: 1 }) }))
    c.node(0).handle(sled(1), new PeerMsg({ rackId, kind: new PrepareAck({ epoch: 9 }) }))
    assert.deepStrictEqual(c.node(0).coordinating()?.ackedPrepares.map(String), [String(sled(0))])
    c.node(0).handle(sled(1), new PeerMsg({ rackId, kind: new PrepareAck({ epoch: 1 }) }))
    assert.strictEqual(c.node(0).coordinating()?.ackedPrepares.length, 2)
  })
})

describe("peer messages: GetShare answers", () => {
  it("a member asking for the committed epoch gets its Share", () => {
    const { c } = rack()
    c.node(1).handle(sled(2), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    assert.deepStrictEqual(kinds(c.node(1)), ["Share"])
  })

  it("a member asking for an older epoch gets CommitAdvance; a non-member gets Expunged", () => {
    const { c } = rack()
    c.commitEpoch({ coordinator: 0, epoch: 2, members: [0, 1, 2], threshold: 2, lastCommittedEpoch: 1 })
    c.deliverAll()
    c.node(1).handle(sled(2), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    c.node(1).handle(sled(3), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    const out = c.node(1).ctx.drainEnvelopes()
    assert.deepStrictEqual(
      out.map((e) => [String(e.to), e.msg.kind._tag]),
      [
        [String(sled(2)), "CommitAdvance"],
        [String(sled(3)), "Expunged"]
      ]
    )
  })

  it("a non-member of the asked epoch's configuration gets Expunged(epoch); an unknown epoch gets silence", () => {
    const { c } = rack()
    c.node(1).handle(sled(4), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    c.node(1).handle(sled(2), new PeerMsg({ rackId, kind: new GetShare({ epoch: 5 }) }))
    assert.deepStrictEqual(kinds(c.node(1)), ["Expunged"])
  })

  it("a prepared but uncommitted share is served", () => {
    const c = new Cluster(4)
    c.connectAll()
    unwrap(
      c
        .node(0)
        .coordinateReconfiguration(
          c.reconfigureMsg({ epoch: 1, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: null })
        )
    )
    c.deliverAll()
    c.node(1).handle(sled(2), new PeerMsg({ rackId, kind: new GetShare({ epoch: 1 }) }))
    assert.deepStrictEqual(kinds(c.node(1)), ["Share"])
  })
})

describe("peer messages: Share, Expunged, CommitAdvance", () => {
  it("a share with a wrong digest is dropped by the loader", () => {
    const { c } = rack()
    const n = c.node(0)
    n.clearSecrets()
    unwrap(n.loadRackSecret(1))
    n.ctx.drainEnvelopes()
    const forged = { x: 2, y: new Uint8Array(32).fill(9) }
    for (const i of [1, 2, 3])
      n.handle(sled(i), new PeerMsg({ rackId, kind: new ShareReply({ epoch: 1, share: forged }) }))
    assert.isTrue(Option.isNone(unwrap(n.loadRackSecret(1))))
    assert.deepStrictEqual(n.ctx.alarms, [])
  })

  it("Expunged for an epoch older than the latest known configuration is ignored; with no configuration at all too", () => {
    const { c } = rack()
    c.commitEpoch({ coordinator: 0, epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
    c.deliverAll()
    c.node(1).handle(sled(0), new PeerMsg({ rackId, kind: new ExpungedReply({ epoch: 1 }) }))
    assert.isTrue(Option.isNone(c.node(1).ctx.persistentState.expunged))
    c.node(4).handle(sled(0), new PeerMsg({ rackId, kind: new ExpungedReply({ epoch: 2 }) }))
    assert.isTrue(Option.isNone(c.node(4).ctx.persistentState.expunged))
  })

  it("Expunged at or after the latest configuration is persisted and sticky", () => {
    const { c } = rack()
    c.node(1).handle(sled(0), new PeerMsg({ rackId, kind: new ExpungedReply({ epoch: 1 }) }))
    assert.isTrue(c.node(1).ctx.persistentStateChangeCheckAndReset())
    const restarted = c.restart(1)
    assert.isTrue(PersistentState.isExpunged(restarted.ctx.persistentState))
  })

  it("a CommitAdvance with a different configuration for an epoch the node knows raises MismatchedConfigurations", () => {
    const { c } = rack()
    const c2 = new Cluster(4, 7)
    c2.connectAll()
    unwrap(
      c2
        .node(0)
        .coordinateReconfiguration(
          c2.reconfigureMsg({ epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: null })
        )
    )
    const foreign = c2.node(0).coordinatorStatus()?.config
    if (!foreign) throw new Error("no config")
    for (const i of [0, 1, 2]) c.disconnect(i, 3)
    const ours = c.commitEpoch({ coordinator: 1, epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 })
    // Node 3 missed the prepare: PrepareAndCommit stores our configuration, without a share.
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(ours)), "Pending")
    c.node(3).handle(sled(1), new PeerMsg({ rackId, kind: new CommitAdvance({ config: foreign }) }))
    assert.deepStrictEqual(
      c.node(3).ctx.alarms.map((a) => a._tag),
      ["MismatchedConfigurations"]
    )
  })

  it("a duplicate PrepareAndCommit while computing is a no-op; the loader ignores shares when not collecting", () => {
    const c = new Cluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch({
      coordinator: 0,
      epoch: 1,
      members: [0, 1, 2, 3],
      threshold: 3,
      lastCommittedEpoch: null
    })
    for (const i of [0, 1, 2]) c.connect(i, 3)
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config)), "Pending")
    const first = kinds(c.node(3))
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config)), "Pending")
    assert.deepStrictEqual(first, ["GetShare", "GetShare", "GetShare"])
    assert.deepStrictEqual(kinds(c.node(3)), [])
  })
})
