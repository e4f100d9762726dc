import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as Gfss from "../../src/gfss/Gfss.ts"
import type { Node } from "../../src/protocol/Node.ts"
import type { DropReason } from "../../src/protocol/NodeCtx.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as Decision from "../../src/types/Decision.ts"
import {
  CommitAdvance,
  ExpungedReply,
  GetShare,
  type PeerMsgKind,
  Prepare,
  PrepareAck,
  ShareReply
} from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import {
  authority,
  committedRack,
  coordinate,
  makeNode,
  otherRackId,
  peerMsg,
  proofOf,
  sled,
  summary,
  TestCluster,
  unwrap
} from "./TestCluster.ts"

const four = [0, 1, 2, 3]
const first = { epoch: 1, members: four, threshold: 3, lastCommittedEpoch: null }
const second = (members = four, threshold = 3) => ({ epoch: 2, members, threshold, lastCommittedEpoch: 1 })

const shareOf = (n: Node, epoch: number): Gfss.Share => {
  const s = n.ctx.persistentState.shares.get(epoch)
  if (s === undefined) throw new Error(`${n.id} has no share of epoch ${epoch}`)
  return s
}
const reasons = (n: Node): ReadonlyArray<DropReason> => n.ctx.dropped.map((d) => d.reason)
const kinds = (n: Node) => n.ctx.drainEnvelopes().map((e) => e.msg.kind._tag)
const bogusShare = (x: number): Gfss.Share => ({ x, y: new Uint8Array(32).fill(9) })

/** A 4-member rack committed at epoch 1, plus node 4: a fresh node connected to everyone. */
const rack = () => committedRack({ size: 5 })

/** One message of every kind, as node 0 of the rack could send it. */
const everyKind = (c: TestCluster, config: Configuration.Configuration): ReadonlyArray<PeerMsgKind> => [
  new Prepare({ config, share: shareOf(c.node(1), 1) }),
  new PrepareAck({ epoch: 1 }),
  new GetShare({ epoch: 1, proof: c.proof(1) }),
  new ShareReply({ epoch: 1, share: shareOf(c.node(0), 1) }),
  new ExpungedReply({ config, proof: proofOf(config) }),
  new CommitAdvance({ config, proof: proofOf(config) })
]

/** An epoch-2 configuration of this rack (signed by the same control plane) without the `removed` sleds. */
const removal = (removed: ReadonlyArray<number>): Configuration.Configuration => {
  const o = new TestCluster(4, "removal")
  o.connectAll()
  o.commitEpoch(0, first)
  return o.commitEpoch(
    0,
    second(
      four.filter((i) => !removed.includes(i)),
      2
    )
  )
}

/** A signature that verifies nothing. */
const forged = new Uint8Array(64).fill(1)

describe("peer messages: the receiver preamble", () => {
  it("an expunged node drops every kind of message", () => {
    const { c, config } = rack()
    const expunged = PersistentState.update(c.node(1).ctx.persistentState, (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 1, from: sled(0) }))
    })
    const n = makeNode(sled(1), { persistentState: expunged })
    n.onConnect(sled(0))
    for (const kind of everyKind(c, config)) n.handle(sled(0), peerMsg(kind))
    assert.deepStrictEqual(n.ctx.envelopes, [])
    assert.isFalse(n.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(n), Array(6).fill("Expunged"))
  })

  it("a node that knows its rack drops every message naming another rack", () => {
    const { c, config } = rack()
    const n = c.node(1)
    for (const kind of everyKind(c, config)) n.handle(sled(0), peerMsg(kind, otherRackId))
    assert.deepStrictEqual(n.ctx.envelopes, [])
    assert.isFalse(n.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(n), Array(6).fill("RackIdMismatch"))
  })

  it("a node that knows no rack yet takes the rack its first configuration names", () => {
    const { c, config } = rack()
    const fresh = makeNode(sled(3))
    fresh.handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(3), 1) })))
    assert.deepStrictEqual(kinds(fresh), ["PrepareAck"])
    assert.strictEqual(PersistentState.rackId(fresh.ctx.persistentState), config.rackId)
  })

  it("a message whose configuration names another rack than the message does is dropped", () => {
    const { c, config } = rack()
    const fresh = makeNode(sled(3))
    fresh.handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(3), 1) }), otherRackId))
    fresh.handle(sled(0), peerMsg(new CommitAdvance({ config, proof: proofOf(config) }), otherRackId))
    assert.deepStrictEqual(kinds(fresh), [])
    assert.isFalse(fresh.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(fresh), ["ConfigurationForAnotherRack", "ConfigurationForAnotherRack"])
  })
})

describe("peer messages: Prepare", () => {
  it("(a) a Prepare for an epoch older than the latest commit is dropped without an ack", () => {
    const { c, config } = rack()
    c.commitEpoch(0, second())
    c.node(1).handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(1)), ["PrepareForStaleEpoch"])
  })

  it("a Prepare for the latest committed epoch itself is dropped: a committed share is never rewritten", () => {
    const { c, config } = rack()
    c.node(1).handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(1)), ["PrepareForStaleEpoch"])
  })

  it("a Prepare from a peer other than its configuration's coordinator is dropped", () => {
    const { config } = rack()
    const { c: other } = rack()
    const fresh = makeNode(sled(2))
    fresh.handle(sled(1), peerMsg(new Prepare({ config, share: shareOf(other.node(2), 1) })))
    assert.deepStrictEqual(kinds(fresh), [])
    assert.deepStrictEqual(reasons(fresh), ["PrepareNotFromCoordinator"])
  })

  it("a Prepare whose configuration the control plane did not sign is dropped", () => {
    const { c, config } = rack()
    const planted = new Configuration.Configuration({
      ...config,
      epoch: 2,
      members: [...config.members, { id: sled(4), digest: new Uint8Array(32) }],
      authorization: { lastCommittedEpoch: 1, signature: forged }
    })
    c.node(1).handle(sled(0), peerMsg(new Prepare({ config: planted, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(1)), ["PrepareUnauthorized"])
  })

  it("(b) a Prepare for a configuration without this node is dropped without an ack", () => {
    const { c, config } = rack()
    c.node(4).handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(kinds(c.node(4)), [])
    assert.isFalse(c.node(4).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(4)), ["PrepareNotAMember"])
  })

  it("(c) a Prepare whose configuration differs from the one stored for its epoch is dropped", () => {
    const c = new TestCluster(4)
    c.connectAll()
    const ours = c.prepareEpoch(0, first)
    const foreignRack = new TestCluster(4, "foreign")
    foreignRack.connectAll()
    // The same signed reconfiguration, other shares: what a coordinator that equivocates would send.
    const foreign = foreignRack.prepareEpoch(0, first)
    const before = Gfss.copyShare(shareOf(c.node(1), 1))
    c.node(1).handle(sled(0), peerMsg(new Prepare({ config: foreign, share: shareOf(foreignRack.node(1), 1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.deepStrictEqual(reasons(c.node(1)), ["PrepareConfigurationMismatch"])
    assert.deepStrictEqual(shareOf(c.node(1), 1), before)
    assert.isTrue(Configuration.equals(c.node(1).ctx.persistentState.configs.get(1) ?? foreign, ours))
  })

  it("a share that is not the receiver's own (wrong x, or not matching its digest) is dropped", () => {
    const { c, config } = rack()
    const fresh = makeNode(sled(2))
    fresh.handle(sled(0), peerMsg(new Prepare({ config, share: bogusShare(3) })))
    fresh.handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(kinds(fresh), [])
    assert.isFalse(fresh.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(fresh), ["PrepareShareMismatch", "PrepareShareMismatch"])
  })

  it("(d) a Prepare for a newer epoch ends an older coordination; one for an older epoch does not", () => {
    const { c, config } = rack()
    unwrap(coordinate(c.node(1), second()))
    c.node(1).ctx.drainEnvelopes()
    unwrap(coordinate(c.node(2), { ...second(), epoch: 3 }))
    c.deliverAll()
    assert.isUndefined(c.node(1).coordinating())
    assert.deepStrictEqual(c.node(2).coordinating()?.op, "Prepare")
    assert.isTrue(PersistentState.hasPrepared(c.node(1).ctx.persistentState, 3))
    c.node(2).handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(2), 1) })))
    assert.strictEqual(c.node(2).coordinating()?.epoch, 3)
  })

  it("(e) a duplicate Prepare is acknowledged again", () => {
    const { c, config } = rack()
    const fresh = makeNode(sled(2))
    const prepare = peerMsg(new Prepare({ config, share: shareOf(c.node(2), 1) }))
    fresh.handle(sled(0), prepare)
    fresh.handle(sled(0), prepare)
    assert.deepStrictEqual(kinds(fresh), ["PrepareAck", "PrepareAck"])
  })

  it("a Prepare older than the latest prepared, uncommitted epoch is still stored and acknowledged (§9.4)", () => {
    const { c } = rack()
    // Node 3 misses epoch 2's Prepare; node 1 keeps coordinating epoch 2 while the others prepare epoch 3.
    c.disconnect(1, 3)
    unwrap(coordinate(c.node(1), second()))
    c.deliverAll()
    c.disconnect(1, 0)
    c.disconnect(1, 2)
    c.prepareEpoch(2, { ...second(), epoch: 3 })
    assert.isTrue(PersistentState.hasPrepared(c.node(3).ctx.persistentState, 3))
    assert.isFalse(PersistentState.hasPrepared(c.node(3).ctx.persistentState, 2))
    // On reconnection the coordinator of epoch 2 re-sends its Prepare: node 3 stores it and acknowledges.
    c.connect(1, 3)
    c.deliverAll()
    assert.deepStrictEqual(c.node(1).coordinating()?.ackedPrepares, [sled(0), sled(1), sled(2), sled(3)])
    assert.isTrue(PersistentState.hasPrepared(c.node(3).ctx.persistentState, 2))
  })
})

describe("peer messages: PrepareAck", () => {
  it("an ack from a member for the epoch being prepared is recorded once, and that member is no longer re-sent its Prepare", () => {
    const c = new TestCluster(4)
    const node = c.node(0)
    unwrap(coordinate(node, first))
    node.handle(sled(1), peerMsg(new PrepareAck({ epoch: 1 })))
    node.handle(sled(1), peerMsg(new PrepareAck({ epoch: 1 })))
    assert.deepStrictEqual(node.coordinating()?.ackedPrepares, [sled(0), sled(1)])
    node.onConnect(sled(1))
    node.onConnect(sled(2))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [["2", "Prepare"]])
  })

  it("acks are dropped when not coordinating, while collecting shares, for another epoch, or from a non-member", () => {
    const { c } = rack()
    c.node(0).handle(sled(1), peerMsg(new PrepareAck({ epoch: 1 })))
    assert.deepStrictEqual(reasons(c.node(0)), ["AckNotCoordinating"])
    unwrap(coordinate(c.node(1), second()))
    c.node(1).handle(sled(2), peerMsg(new PrepareAck({ epoch: 2 })))
    assert.deepStrictEqual(reasons(c.node(1)), ["AckNotPreparing"])
    const fresh = new TestCluster(5)
    const node = fresh.node(0)
    unwrap(coordinate(node, first))
    node.handle(sled(1), peerMsg(new PrepareAck({ epoch: 9 })))
    node.handle(sled(4), peerMsg(new PrepareAck({ epoch: 1 })))
    assert.deepStrictEqual(reasons(node), ["AckWrongEpoch", "AckNotAMember"])
    assert.deepStrictEqual(node.coordinating()?.ackedPrepares, [sled(0)])
  })
})

describe("peer messages: GetShare (reference §5.5, responder)", () => {
  it("a member asking for an epoch committed here gets this node's share, as a copy", () => {
    const { c } = rack()
    c.node(1).handle(sled(2), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    const [reply, ...rest] = c.node(1).ctx.drainEnvelopes()
    assert.deepStrictEqual(rest, [])
    const kind = reply?.msg.kind
    assert.isTrue(kind?._tag === "Share" && kind.epoch === 1)
    if (kind?._tag === "Share") {
      assert.deepStrictEqual(kind.share, shareOf(c.node(1), 1))
      assert.notStrictEqual(kind.share.y, shareOf(c.node(1), 1).y)
    }
    assert.strictEqual(reply?.to.key, sled(2).key)
  })

  it("a member behind the latest commit gets CommitAdvance with it; a node removed from it gets Expunged(latest)", () => {
    const { c } = rack()
    const two = c.commitEpoch(0, second([0, 1, 2], 2))
    c.node(1).handle(sled(2), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    c.node(1).handle(sled(3), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    const out = c.node(1).ctx.drainEnvelopes()
    assert.deepStrictEqual(summary(out), [
      ["2", "CommitAdvance"],
      ["3", "Expunged"]
    ])
    const [advance, expunged] = out.map((e) => e.msg.kind)
    assert.isTrue(advance?._tag === "CommitAdvance" && Configuration.equals(advance.config, two))
    assert.isTrue(advance?._tag === "CommitAdvance" && Decision.verifyCommit(authority.publicKey, two, advance.proof))
    assert.isTrue(expunged?._tag === "Expunged" && Configuration.equals(expunged.config, two))
    assert.isTrue(expunged?._tag === "Expunged" && Decision.verifyCommit(authority.publicKey, two, expunged.proof))
  })

  it("a non-member of the asked epoch's configuration gets Expunged with that committed configuration", () => {
    const { c } = rack()
    c.node(1).handle(sled(4), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    const [reply] = c.node(1).ctx.drainEnvelopes()
    assert.isTrue(reply?.msg.kind._tag === "Expunged" && reply.msg.kind.config.epoch === 1)
  })

  it("a non-member of an epoch that is only prepared here gets silence: there is no proof to show", () => {
    const c = new TestCluster(5)
    c.connectAll()
    c.prepareEpoch(0, first)
    c.node(1).handle(sled(4), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.deepStrictEqual(reasons(c.node(1)), ["GetShareUnknownEpoch"])
  })

  it("an epoch this node holds no share of gets silence", () => {
    const { c } = rack()
    c.node(1).handle(sled(2), peerMsg(new GetShare({ epoch: 5, proof: c.proof(1) })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.deepStrictEqual(reasons(c.node(1)), ["GetShareUnknownEpoch"])
  })

  it("a share that is only prepared, not committed, is served against the epoch's commit proof only", () => {
    const c = new TestCluster(4)
    c.connectAll()
    c.prepareEpoch(0, first)
    c.node(1).handle(sled(2), peerMsg(new GetShare({ epoch: 1, proof: forged })))
    assert.deepStrictEqual(kinds(c.node(1)), [])
    assert.deepStrictEqual(reasons(c.node(1)), ["GetShareUnproven"])
    c.node(1).handle(sled(2), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    assert.deepStrictEqual(kinds(c.node(1)), ["Share"])
  })
})

describe("peer messages: Share", () => {
  it("goes to the collecting coordinator and then also to the loader: one share advances both (§9.5)", () => {
    const { c } = rack()
    const node = c.node(1)
    unwrap(coordinate(node, second()))
    unwrap(node.loadRackSecret(1))
    node.ctx.drainEnvelopes()
    node.ctx.persistentStateChangeCheckAndReset()
    for (const i of [2, 3]) node.handle(sled(i), peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(i), 1) })))
    assert.strictEqual(node.coordinating()?.op, "Prepare")
    assert.isTrue(node.ctx.persistentStateChangeCheckAndReset())
    assert.isTrue(Option.isSome(unwrap(node.loadRackSecret(1))))
    assert.deepStrictEqual(reasons(node), [])
  })

  it("a share failing validation is dropped with the reason and raises no alarm", () => {
    const { c } = rack()
    const node = c.node(0)
    unwrap(node.loadRackSecret(1))
    node.handle(sled(1), peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(2), 1) })))
    node.handle(sled(1), peerMsg(new ShareReply({ epoch: 2, share: shareOf(c.node(1), 1) })))
    node.handle(sled(4), peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(1), 1) })))
    node.handle(sled(2), peerMsg(new ShareReply({ epoch: 1, share: bogusShare(3) })))
    assert.deepStrictEqual(reasons(node), [
      "ShareDigestMismatch",
      "ShareWrongEpoch",
      "ShareNotAMember",
      "ShareDigestMismatch"
    ])
    assert.isTrue(Option.isNone(unwrap(node.loadRackSecret(1))))
    assert.deepStrictEqual(node.ctx.alarms, [])
  })

  it("a share nobody collects is dropped", () => {
    const { c } = rack()
    c.node(0).handle(sled(1), peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(1), 1) })))
    assert.deepStrictEqual(reasons(c.node(0)), ["ShareNotCollecting"])
  })
})

describe("peer messages: Expunged", () => {
  it("is ignored by a node without any configuration (presumably reset already)", () => {
    const { c } = rack()
    const { config } = rack()
    c.node(4).handle(sled(0), peerMsg(new ExpungedReply({ config, proof: proofOf(config) })))
    assert.isFalse(PersistentState.isExpunged(c.node(4).ctx.persistentState))
    assert.deepStrictEqual(reasons(c.node(4)), ["ExpungedWithoutConfigs"])
  })

  it("is ignored without a valid proof, or when the proven configuration still includes the receiver", () => {
    const { c, config } = rack()
    const two = removal([1])
    c.node(1).handle(sled(3), peerMsg(new ExpungedReply({ config: two, proof: forged })))
    c.node(1).handle(sled(3), peerMsg(new ExpungedReply({ config, proof: proofOf(config) })))
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.isFalse(PersistentState.isExpunged(c.node(1).ctx.persistentState))
    assert.deepStrictEqual(reasons(c.node(1)), ["ExpungedUnauthorized", "ExpungedStillAMember"])
  })

  it("is ignored for an epoch older than the latest known configuration, even one only prepared", () => {
    const { c } = rack()
    const two = removal([1])
    c.prepareEpoch(0, { ...second(), epoch: 3 })
    assert.deepStrictEqual(c.node(1).status().persistentState.commits, [1])
    c.node(1).handle(sled(0), peerMsg(new ExpungedReply({ config: two, proof: proofOf(two) })))
    assert.isFalse(PersistentState.isExpunged(c.node(1).ctx.persistentState))
    assert.deepStrictEqual(reasons(c.node(1)), ["ExpungedForOlderEpoch"])
  })

  it("at or after the latest known configuration it is persisted for good, ends coordination, and keeps loaded secrets", () => {
    const { c } = rack()
    const [loaded] = c.loadEverywhere([1], 1)
    unwrap(coordinate(c.node(1), second()))
    // Any peer may pass the proof on: the control plane's signature is the authority, not the sender.
    const two = removal([1])
    c.node(1).handle(sled(3), peerMsg(new ExpungedReply({ config: two, proof: proofOf(two) })))
    c.flush()
    assert.isTrue(PersistentState.isExpunged(c.disk(1)))
    const expunged = c.node(1).ctx.persistentState.expunged
    assert.isTrue(Option.isSome(expunged) && expunged.value.epoch === 2 && expunged.value.from.key === sled(3).key)
    assert.isUndefined(c.node(1).coordinating())
    const again = unwrap(c.node(1).loadRackSecret(1))
    assert.isTrue(loaded !== undefined && Option.isSome(again) && again.value.equals(loaded))
    assert.isTrue(PersistentState.isExpunged(c.restart(1).ctx.persistentState))
  })

  it("ends a key-share computation", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first)
    unwrap(c.node(3).prepareAndCommit(config, proofOf(config)))
    const two = removal([3])
    c.node(3).handle(sled(0), peerMsg(new ExpungedReply({ config: two, proof: proofOf(two) })))
    assert.isFalse(c.node(3).isComputingKeyShare())
  })
})

describe("peer messages: CommitAdvance", () => {
  it("a node that prepared the epoch commits at once", () => {
    const c = new TestCluster(4)
    c.connectAll()
    const config = c.prepareEpoch(0, first)
    c.node(1).handle(sled(2), peerMsg(new CommitAdvance({ config, proof: proofOf(config) })))
    assert.deepStrictEqual(c.node(1).status().persistentState.commits, [1])
    assert.isFalse(c.node(1).isComputingKeyShare())
  })

  it("a node that missed the prepare stores the configuration and starts computing its share", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first)
    c.connect(0, 3)
    c.flush()
    c.dropInFlight()
    c.node(3).handle(sled(0), peerMsg(new CommitAdvance({ config, proof: proofOf(config) })))
    assert.deepStrictEqual(c.node(3).status().persistentState.configs, [1])
    assert.strictEqual(c.node(3).keyShareComputerEpoch(), 1)
    assert.deepStrictEqual(summary(c.node(3).ctx.drainEnvelopes()), [["0", "GetShare"]])
  })

  it("one without a valid commit signature, or out of bounds, is dropped and changes nothing", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first)
    const wide = new Configuration.Configuration({ ...config, threshold: 4 })
    c.node(3).handle(sled(0), peerMsg(new CommitAdvance({ config, proof: forged })))
    c.node(3).handle(sled(0), peerMsg(new CommitAdvance({ config: wide, proof: proofOf(wide) })))
    assert.deepStrictEqual(c.node(3).ctx.envelopes, [])
    assert.isFalse(c.node(3).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(3)), ["CommitAdvanceUnauthorized", "CommitAdvanceOutOfBounds"])
  })

  it("a stale one, or one for a configuration without this node, is dropped without an error", () => {
    const { c, config } = rack()
    c.node(1).handle(sled(0), peerMsg(new CommitAdvance({ config, proof: proofOf(config) })))
    c.node(4).handle(sled(0), peerMsg(new CommitAdvance({ config, proof: proofOf(config) })))
    assert.deepStrictEqual(
      [...reasons(c.node(1)), ...reasons(c.node(4))],
      ["CommitAdvanceStale", "CommitAdvanceNotAMember"]
    )
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.isFalse(c.node(4).ctx.persistentStateChangeCheckAndReset())
  })

  it("a different configuration for an epoch already stored raises MismatchedConfigurations naming the peer", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const ours = c.commitEpoch(0, first)
    const foreign = new TestCluster(4, "foreign").prepareEpoch(0, first)
    unwrap(c.node(3).prepareAndCommit(ours, proofOf(ours)))
    c.node(3).handle(sled(1), peerMsg(new CommitAdvance({ config: foreign, proof: proofOf(foreign) })))
    const alarms = c.node(3).ctx.alarms
    assert.isTrue(alarms.length === 1 && alarms[0]?._tag === "MismatchedConfigurations")
    assert.strictEqual(alarms[0]?._tag === "MismatchedConfigurations" ? alarms[0].from : "", String(sled(1)))
    assert.deepStrictEqual(reasons(c.node(3)), ["CommitAdvanceMismatchedConfiguration"])
  })

  it("ends a coordination of the same epoch (the node will compute its share instead)", () => {
    const { c } = rack()
    unwrap(coordinate(c.node(1), second()))
    c.node(1).ctx.drainEnvelopes()
    c.isolate(1)
    const two = c.commitEpoch(2, second([0, 2, 3, 1]))
    c.node(1).handle(sled(2), peerMsg(new CommitAdvance({ config: two, proof: proofOf(two) })))
    assert.isUndefined(c.node(1).coordinating())
    assert.strictEqual(c.node(1).keyShareComputerEpoch(), 2)
  })

  it("keeps a coordination of a newer epoch, so coordinator and computer may coexist (§9.9)", () => {
    const { c } = rack()
    unwrap(coordinate(c.node(1), { ...second(), epoch: 3 }))
    c.node(1).ctx.drainEnvelopes()
    c.isolate(1)
    const two = c.commitEpoch(2, second())
    c.node(1).handle(sled(2), peerMsg(new CommitAdvance({ config: two, proof: proofOf(two) })))
    assert.strictEqual(c.node(1).coordinating()?.epoch, 3)
    assert.strictEqual(c.node(1).keyShareComputerEpoch(), 2)
  })

  it("keeps a key-share computer of a newer epoch, after storing the older configuration", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const one = c.commitEpoch(0, first)
    const two = c.commitEpoch(1, second())
    unwrap(c.node(3).prepareAndCommit(two, proofOf(two)))
    c.node(3).handle(sled(0), peerMsg(new CommitAdvance({ config: one, proof: proofOf(one) })))
    assert.strictEqual(c.node(3).keyShareComputerEpoch(), 2)
    assert.deepStrictEqual(c.node(3).status().persistentState.configs, [1, 2])
  })

  it("replaces a key-share computer of an older epoch", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const one = c.commitEpoch(0, first)
    unwrap(c.node(3).prepareAndCommit(one, proofOf(one)))
    const two = c.commitEpoch(1, second())
    c.node(3).handle(sled(1), peerMsg(new CommitAdvance({ config: two, proof: proofOf(two) })))
    assert.strictEqual(c.node(3).keyShareComputerEpoch(), 2)
  })
})

describe("duplicate and late messages (§9.4–§9.6)", () => {
  it("the key-share computer counts a duplicate share once", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first)
    const node = c.node(3)
    unwrap(node.prepareAndCommit(config, proofOf(config)))
    const from = (i: number) => peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(i), 1) }))
    node.handle(sled(0), from(0))
    node.handle(sled(0), from(0))
    node.handle(sled(1), from(1))
    assert.isTrue(node.isComputingKeyShare())
    assert.deepStrictEqual(reasons(node), ["ShareDuplicate"])
    node.handle(sled(2), from(2))
    assert.isFalse(node.isComputingKeyShare())
    assert.deepStrictEqual(node.status().persistentState.commits, [1])
  })

  it("the loader ignores a duplicate share, and every share once its epoch is loaded", () => {
    const { c } = rack()
    const node = c.node(0)
    unwrap(node.loadRackSecret(1))
    const from = (i: number) => peerMsg(new ShareReply({ epoch: 1, share: shareOf(c.node(i), 1) }))
    node.handle(sled(1), from(1))
    node.handle(sled(1), from(1))
    node.handle(sled(2), from(2))
    node.handle(sled(3), from(3))
    assert.deepStrictEqual(reasons(node), ["ShareDuplicate", "ShareNotCollecting"])
    assert.isTrue(Option.isSome(unwrap(node.loadRackSecret(1))))
  })

  it("late replies to a finished load are dropped", () => {
    const { c } = rack()
    c.loadEverywhere([0], 1)
    // K = 3: the own share and the first two replies suffice; the third arrives late.
    assert.deepStrictEqual(c.node(0).ctx.dropped, [{ from: sled(3), kind: "Share", reason: "ShareNotCollecting" }])
  })

  it("a late PrepareAck after the commit ended the coordination is dropped", () => {
    const c = new TestCluster(4)
    c.connectAll()
    c.prepareEpoch(0, first)
    unwrap(c.node(0).commitConfiguration(c.node(0).coordinatorStatus()?.config.rackId ?? "", 1, c.proof(1)))
    c.node(0).handle(sled(1), peerMsg(new PrepareAck({ epoch: 1 })))
    assert.deepStrictEqual(reasons(c.node(0)), ["AckNotCoordinating"])
  })

  it("a late Prepare after a newer commit, and a late CommitAdvance for a committed epoch, change nothing", () => {
    const { c, config } = rack()
    c.commitEpoch(1, second())
    c.node(3).handle(sled(0), peerMsg(new Prepare({ config, share: shareOf(c.node(3), 1) })))
    c.node(3).handle(sled(0), peerMsg(new CommitAdvance({ config, proof: proofOf(config) })))
    assert.deepStrictEqual(kinds(c.node(3)), [])
    assert.isFalse(c.node(3).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(reasons(c.node(3)), ["PrepareForStaleEpoch", "CommitAdvanceStale"])
  })
})
