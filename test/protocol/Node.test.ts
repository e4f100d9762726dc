import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import * as Configuration from "../../src/types/Configuration.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { digestEquals } from "../../src/types/Share.ts"
import {
  committedRack,
  coordinate,
  failure,
  proofOf,
  rackId,
  sled,
  some,
  summary,
  TestCluster,
  unwrap
} from "./TestCluster.ts"

const first = (members: ReadonlyArray<number>, threshold = 3) => ({
  epoch: 1,
  members,
  threshold,
  lastCommittedEpoch: null
})
const next = (epoch: number, members: ReadonlyArray<number>, lastCommittedEpoch: number, threshold = 3) => ({
  epoch,
  members,
  threshold,
  lastCommittedEpoch
})
const four = [0, 1, 2, 3]

/** Whether node `i` holds a share of `epoch` whose digest the configuration records for it. */
const holdsItsShare = (c: TestCluster, i: number, config: Configuration.Configuration): boolean => {
  const share = c.node(i).ctx.persistentState.shares.get(config.epoch)
  const digest = config.digestOf(sled(i))
  return (
    share !== undefined &&
    digest !== undefined &&
    share.x === config.indexOf(sled(i)) + 1 &&
    digestEquals(shareDigest(share), digest)
  )
}

describe("Node.coordinateReconfiguration", () => {
  it("a rejected request changes nothing: no state, no message, no coordination", () => {
    const c = new TestCluster(4)
    c.connectAll()
    const e = failure(coordinate(c.node(0), first([1, 2, 3], 2)))
    assert.strictEqual(e._tag, "CoordinatorMustBeAMemberOfNewGroup")
    assert.isFalse(c.node(0).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(c.node(0).ctx.envelopes, [])
    assert.isUndefined(c.node(0).coordinating())
  })

  it("a first configuration persists the coordinator's share and configuration at once and prepares the connected members", () => {
    const c = new TestCluster(5)
    c.connect(0, 1)
    c.connect(0, 2)
    const node = c.node(0)
    unwrap(coordinate(node, first(four)))
    assert.isTrue(node.ctx.persistentStateChangeCheckAndReset())
    const config = node.coordinatorStatus()?.config
    if (config === undefined) throw new Error("not coordinating")
    assert.isTrue(PersistentState.hasPrepared(node.ctx.persistentState, 1))
    assert.deepStrictEqual(node.ctx.persistentState.commits, new Set())
    assert.isTrue(holdsItsShare(c, 0, config))
    assert.isTrue(Option.isNone(config.encryptedRackSecrets))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [
      ["1", "Prepare"],
      ["2", "Prepare"]
    ])
    assert.deepStrictEqual(node.coordinating(), { epoch: 1, op: "Prepare", ackedPrepares: [sled(0)] })
  })

  it("a retry once the configuration is persisted fails with PreparedEpochMismatch naming the same epoch twice", () => {
    const c = new TestCluster(4)
    unwrap(coordinate(c.node(0), first(four)))
    const e = failure(coordinate(c.node(0), first(four)))
    assert.isTrue(e._tag === "PreparedEpochMismatch" && e.existing === 1 && e.requested === 1)
  })

  it("a retry while collecting shares is a no-op: no message, the same configuration", () => {
    const { c } = committedRack()
    const node = c.node(1)
    unwrap(coordinate(node, next(2, four, 1)))
    const before = node.coordinatorStatus()?.config
    node.ctx.drainEnvelopes()
    unwrap(coordinate(node, next(2, [3, 2, 1, 0], 1)))
    assert.deepStrictEqual(node.ctx.envelopes, [])
    const after = node.coordinatorStatus()?.config
    assert.isTrue(before !== undefined && after !== undefined && Configuration.equals(before, after))
  })

  it("a newer request replaces a coordination that is still collecting shares", () => {
    const { c } = committedRack()
    unwrap(coordinate(c.node(1), next(2, four, 1)))
    unwrap(coordinate(c.node(1), next(3, four, 1)))
    assert.deepStrictEqual(c.node(1).coordinating(), { epoch: 3, op: "CollectShares", ackedPrepares: [] })
  })

  it("starting to coordinate cancels a key-share computer", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config, proofOf(config))), "Pending")
    assert.isTrue(c.node(3).isComputingKeyShare())
    unwrap(coordinate(c.node(3), { ...first(four), epoch: 2 }))
    assert.isFalse(c.node(3).isComputingKeyShare())
    assert.strictEqual(c.node(3).coordinating()?.epoch, 2)
  })
})

describe("Node.commitConfiguration", () => {
  it("commits a prepared epoch, persists it, and ends the coordination of that epoch", () => {
    const c = new TestCluster(4)
    c.connectAll()
    c.prepareEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(0).commitConfiguration(rackId, 1, c.proof(1))), "Committed")
    assert.isTrue(c.node(0).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(c.node(0).status().persistentState.commits, [1])
    assert.isUndefined(c.node(0).coordinating())
  })

  it("a duplicate commit answers Committed and persists nothing", () => {
    const { c } = committedRack()
    assert.strictEqual(unwrap(c.node(1).commitConfiguration(rackId, 1, c.proof(1))), "Committed")
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
  })

  it("an epoch the node never prepared fails with NotPrepared and persists nothing", () => {
    const { c } = committedRack()
    const e = failure(c.node(1).commitConfiguration(rackId, 2, new Uint8Array(64)))
    assert.isTrue(e._tag === "NotPrepared" && e.epoch === 2)
    assert.isFalse(c.node(1).ctx.persistentStateChangeCheckAndReset())
  })

  it("an older epoch never committed here fails with Superseded, via Commit and via PrepareAndCommit", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const one = c.commitEpoch(0, first(four))
    c.connect(0, 3)
    c.connect(1, 3)
    c.connect(2, 3)
    c.commitEpoch(1, next(2, four, 1))
    assert.deepStrictEqual(c.node(3).status().persistentState.commits, [2])
    const viaCommit = failure(c.node(3).commitConfiguration(rackId, 1, c.proof(1)))
    assert.isTrue(viaCommit._tag === "Superseded" && viaCommit.epoch === 1 && viaCommit.latestCommitted === 2)
    const viaPrepareAndCommit = failure(c.node(3).prepareAndCommit(one, proofOf(one)))
    assert.isTrue(viaPrepareAndCommit._tag === "Superseded" && viaPrepareAndCommit.latestCommitted === 2)
  })

  it("does not cancel a key-share computer of an older epoch (reference §9.8)", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const one = c.commitEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(one, proofOf(one))), "Pending")
    c.prepareEpoch(0, next(2, four, 1))
    // Node 3 meets only the coordinator: it gets its Prepare, but just one of the K shares it needs for epoch 1.
    c.connect(0, 3)
    c.deliverAll()
    assert.isTrue(PersistentState.hasPrepared(c.node(3).ctx.persistentState, 2))
    assert.strictEqual(unwrap(c.node(3).commitConfiguration(rackId, 2, c.proof(2))), "Committed")
    assert.strictEqual(c.node(3).keyShareComputerEpoch(), 1)
  })
})

describe("Node.prepareAndCommit", () => {
  it("a member that prepared commits at once", () => {
    const c = new TestCluster(4)
    c.connectAll()
    const config = c.prepareEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(1).prepareAndCommit(config, proofOf(config))), "Committed")
    assert.isTrue(c.node(1).ctx.persistentStateChangeCheckAndReset())
    assert.isFalse(c.node(1).isComputingKeyShare())
  })

  it("at the coordinator it commits and ends the coordination of that epoch", () => {
    const c = new TestCluster(4)
    c.connectAll()
    const config = c.prepareEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(0).prepareAndCommit(config, proofOf(config))), "Committed")
    assert.isUndefined(c.node(0).coordinating())
  })

  it("a member that missed the prepare stores the configuration, answers Pending and asks each connected member", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first(four))
    c.connect(0, 3)
    c.connect(1, 3)
    const node = c.node(3)
    assert.strictEqual(unwrap(node.prepareAndCommit(config, proofOf(config))), "Pending")
    assert.isTrue(node.ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(node.status().persistentState, { configs: [1], shares: [], commits: [], expunged: null })
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [
      ["0", "GetShare"],
      ["1", "GetShare"]
    ])
    assert.strictEqual(node.keyShareComputerEpoch(), 1)
  })

  it("a repeated PrepareAndCommit while computing is a no-op", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first(four))
    c.connect(0, 3)
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config, proofOf(config))), "Pending")
    c.node(3).ctx.persistentStateChangeCheckAndReset()
    c.node(3).ctx.drainEnvelopes()
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(config, proofOf(config))), "Pending")
    assert.isFalse(c.node(3).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(c.node(3).ctx.envelopes, [])
  })

  it("a member that missed the prepare computes the share at its bytewise rank, matching the configuration's digest", () => {
    // Sled 10 sorts before sled 2, so it holds x = 3 of {0, 1, 10, 2}.
    const c = new TestCluster(11)
    const members = [0, 1, 2, 10]
    c.connectAll([0, 1, 2])
    const config = c.commitEpoch(0, first(members))
    assert.strictEqual(config.indexOf(sled(10)), 2)
    for (const i of [0, 1, 2]) c.connect(i, 10)
    assert.strictEqual(unwrap(c.node(10).prepareAndCommit(config, proofOf(config))), "Pending")
    c.deliverAll()
    assert.isFalse(c.node(10).isComputingKeyShare())
    assert.strictEqual(unwrap(c.node(10).prepareAndCommit(config, proofOf(config))), "Committed")
    assert.isTrue(holdsItsShare(c, 10, config))
    const [a, b] = c.loadEverywhere([0, 10], 1)
    assert.isTrue(a !== undefined && b !== undefined && a.equals(b))
  })

  it("a node outside the configuration gets NotAMember and persists nothing", () => {
    const { c, config } = committedRack({ size: 5 })
    const e = failure(c.node(4).prepareAndCommit(config, proofOf(config)))
    assert.isTrue(e._tag === "NotAMember" && e.epoch === 1)
    assert.isFalse(c.node(4).ctx.persistentStateChangeCheckAndReset())
    assert.deepStrictEqual(c.node(4).status().persistentState.configs, [])
  })

  it("an epoch committed here answers Committed, even after a newer commit", () => {
    const { c, config } = committedRack()
    c.commitEpoch(1, next(2, four, 1))
    assert.strictEqual(unwrap(c.node(2).prepareAndCommit(config, proofOf(config))), "Committed")
    assert.isFalse(c.node(2).ctx.persistentStateChangeCheckAndReset())
  })

  it("a different configuration for an epoch already stored raises MismatchedConfigurations from Nexus and stays Pending", () => {
    const c = new TestCluster(4)
    c.connectAll([0, 1, 2])
    const ours = c.commitEpoch(0, first(four))
    const foreign = new TestCluster(4, "foreign").prepareEpoch(0, first(four))
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(ours, proofOf(ours))), "Pending")
    assert.strictEqual(unwrap(c.node(3).prepareAndCommit(foreign, proofOf(foreign))), "Pending")
    const [alarm, ...rest] = c.node(3).ctx.alarms
    assert.deepStrictEqual(rest, [])
    assert.isTrue(alarm?._tag === "MismatchedConfigurations" && alarm.from === "Nexus")
    if (alarm?._tag === "MismatchedConfigurations") {
      assert.isTrue(Configuration.equals(alarm.config1, ours) && Configuration.equals(alarm.config2, foreign))
    }
    assert.isTrue(Configuration.equals(c.node(3).ctx.persistentState.configs.get(1) ?? foreign, ours))
  })
})

describe("Node.loadRackSecret", () => {
  it("fails with NoCommittedConfigurations while nothing is committed, even with a prepared configuration", () => {
    const c = new TestCluster(4)
    c.connectAll()
    c.prepareEpoch(0, first(four))
    assert.strictEqual(failure(c.node(1).loadRackSecret(1))._tag, "NoCommittedConfigurations")
    assert.strictEqual(failure(c.node(1).loadLatestRackSecret())._tag, "NoCommittedConfigurations")
  })

  it("fails with NotCommitted for an epoch after the latest commit", () => {
    const { c } = committedRack()
    const e = failure(c.node(1).loadRackSecret(2))
    assert.isTrue(e._tag === "NotCommitted" && e.epoch === 2)
  })

  it("the first call starts collecting shares of the latest committed epoch and answers none", () => {
    const { c } = committedRack()
    const node = c.node(0)
    assert.isTrue(Option.isNone(unwrap(node.loadRackSecret(1))))
    assert.deepStrictEqual(summary(node.ctx.drainEnvelopes()), [
      ["1", "GetShare"],
      ["2", "GetShare"],
      ["3", "GetShare"]
    ])
    assert.isTrue(node.isCollectingSharesForRackSecret(1))
    assert.isFalse(node.isCollectingSharesForRackSecret(2))
    assert.isTrue(Option.isNone(unwrap(node.loadRackSecret(1))))
    assert.deepStrictEqual(node.ctx.envelopes, [])
  })

  it("once K validated shares arrived every member has the same secret and collection stops", () => {
    const { c } = committedRack()
    const secrets = c.loadEverywhere(four, 1)
    for (const s of secrets) assert.isTrue(secrets[0]?.equals(s))
    for (const i of four) assert.isFalse(c.node(i).isCollectingSharesForRackSecret(1))
    assert.deepStrictEqual(c.node(0).loadedEpochs(), [1])
  })

  it("hands out copies: clearing the secrets zeroes none the caller holds, and forgets the rest", () => {
    const { c } = committedRack()
    const [held] = c.loadEverywhere([0], 1)
    if (held === undefined) throw new Error("not loaded")
    const fingerprint = held.fingerprint()
    c.node(0).clearSecrets()
    assert.deepStrictEqual(c.node(0).loadedEpochs(), [])
    assert.isTrue(Option.isNone(unwrap(c.node(0).loadRackSecret(1))))
    c.node(0).clearSecrets()
    assert.isFalse(c.node(0).isCollectingSharesForRackSecret(1))
    assert.strictEqual(held.fingerprint(), fingerprint)
    const [again] = c.loadEverywhere([0], 1)
    assert.isTrue(again?.equals(held))
  })

  it("a collector for an older epoch is replaced by one for the latest commit on the next call", () => {
    const { c } = committedRack()
    const node = c.node(0)
    unwrap(node.loadRackSecret(1))
    node.ctx.drainEnvelopes()
    c.commitEpoch(1, next(2, four, 1))
    assert.isTrue(node.isCollectingSharesForRackSecret(1))
    assert.isFalse(node.isCollectingSharesForRackSecret(2))
    assert.isTrue(Option.isNone(unwrap(node.loadRackSecret(2))))
    assert.deepStrictEqual(
      summary(node.ctx.envelopes).map(([, kind]) => kind),
      ["GetShare", "GetShare", "GetShare"]
    )
    assert.isTrue(node.ctx.envelopes.every((e) => e.msg.kind._tag === "GetShare" && e.msg.kind.epoch === 2))
    c.deliverAll()
    assert.isTrue(Option.isSome(unwrap(node.loadRackSecret(2))))
    assert.deepStrictEqual(node.loadedEpochs(), [1, 2])
  })

  it("a collector newer than the latest commit raises CommittedConfigurationLost once and fails with Alarm", () => {
    const { c } = committedRack()
    c.commitEpoch(1, next(2, four, 1))
    const node = c.node(0)
    unwrap(node.loadRackSecret(2))
    // The commit of epoch 2 disappears (say, a ledger rolled back): the collector is now ahead of it.
    node.ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.commits.delete(2)))
    for (let i = 0; i < 2; i++) {
      const e = failure(node.loadRackSecret(1))
      assert.isTrue(e._tag === "Alarm" && e.alarm._tag === "CommittedConfigurationLost")
    }
    assert.deepStrictEqual(
      node.ctx.alarms.map((a) =>
        a._tag === "CommittedConfigurationLost" ? [a.latestCommittedEpoch, a.collectingEpoch] : []
      ),
      [[1, 2]]
    )
  })

  it("loadLatestRackSecret answers none while collecting, then the latest epoch and its secret", () => {
    const { c } = committedRack()
    c.commitEpoch(1, next(2, four, 1))
    assert.isTrue(Option.isNone(unwrap(c.node(3).loadLatestRackSecret())))
    c.deliverAll()
    const latest = some(unwrap(c.node(3).loadLatestRackSecret()))
    assert.strictEqual(latest.epoch, 2)
    const [two] = c.loadEverywhere([1], 2)
    assert.isTrue(two !== undefined && latest.secret.equals(two))
  })
})

describe("Node status and connections", () => {
  it("status lists connected peers in bytewise order, the alarms and the persisted epochs", () => {
    const c = new TestCluster(11)
    const members = [0, 1, 2, 10]
    c.connectAll(members)
    c.commitEpoch(0, first(members))
    assert.deepStrictEqual(c.node(0).status(), {
      connectedPeers: [sled(1), sled(10), sled(2)],
      alarms: [],
      persistentState: { configs: [1], shares: [1], commits: [1], expunged: null }
    })
  })

  it("onConnect twice is harmless and onDisconnect only forgets the link", () => {
    const { c } = committedRack()
    c.node(0).onConnect(sled(1))
    c.node(0).onDisconnect(sled(1))
    assert.deepStrictEqual(c.node(0).status().connectedPeers, [sled(2), sled(3)])
    assert.isFalse(c.node(0).ctx.persistentStateChangeCheckAndReset())
  })

  it("a restarted node keeps what it persisted and forgets its coordination and loaded secrets", () => {
    const { c } = committedRack()
    c.loadEverywhere([0], 1)
    unwrap(coordinate(c.node(1), next(2, four, 1)))
    const one = c.restart(1)
    const zero = c.restart(0)
    assert.isUndefined(one.coordinating())
    assert.deepStrictEqual(zero.loadedEpochs(), [])
    assert.deepStrictEqual(zero.status().persistentState.commits, [1])
    // Nothing is re-driven until links come up.
    assert.isTrue(Option.isNone(unwrap(zero.loadRackSecret(1))))
    assert.deepStrictEqual(zero.ctx.envelopes, [])
    c.connectAll()
    c.deliverAll()
    assert.isTrue(Option.isSome(unwrap(zero.loadRackSecret(1))))
  })
})
