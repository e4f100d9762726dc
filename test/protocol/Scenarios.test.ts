import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as fc from "fast-check"
import { RackSecret } from "../../src/crypto/RackSecret.ts"
import { shareDigest } from "../../src/crypto/ShareDigest.ts"
import type * as Gfss from "../../src/gfss/Gfss.ts"
import { ExpungedReply, GetShare } from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { digestEquals } from "../../src/types/Share.ts"
import { coordinate, failure, peerMsg, proofOf, rackId, sled, some, TestCluster, unwrap } from "./TestCluster.ts"

const epoch = (e: number, members: ReadonlyArray<number>, threshold: number, lastCommittedEpoch: number | null) => ({
  epoch: e,
  members,
  threshold,
  lastCommittedEpoch
})

describe("scenario: a node removed by a reconfiguration", () => {
  it("learns it is expunged when it asks for a share, then refuses every operation with a typed error", () => {
    const c = new TestCluster(5)
    c.connectAll()
    c.commitEpoch(0, epoch(1, [0, 1, 2, 3, 4], 3, null))
    c.isolate(4)
    const two = c.commitEpoch(0, epoch(2, [0, 1, 2, 3], 3, 1))
    for (const i of [0, 1, 2, 3]) c.connect(i, 4)
    const removed = c.node(4)
    // It still believes in epoch 1 and asks its members for their shares; each answers Expunged(2).
    assert.isTrue(Option.isNone(unwrap(removed.loadRackSecret(1))))
    c.deliverAll()
    const expunged = removed.ctx.persistentState.expunged
    assert.isTrue(Option.isSome(expunged) && expunged.value.epoch === 2 && expunged.value.from.key === sled(0).key)
    assert.isTrue(PersistentState.isExpunged(c.disk(4)))
    assert.deepStrictEqual(
      removed.ctx.dropped.map((d) => [d.kind, d.reason]),
      [
        ["Expunged", "Expunged"],
        ["Expunged", "Expunged"],
        ["Expunged", "Expunged"]
      ]
    )
    const commit = failure(removed.commitConfiguration(rackId, 2, c.proof(2)))
    assert.isTrue(commit._tag === "Expunged" && commit.epoch === 2 && commit.from === String(sled(0)))
    assert.strictEqual(failure(removed.prepareAndCommit(two, proofOf(two)))._tag, "Expunged")
    const reconfigure = failure(coordinate(removed, epoch(3, [0, 1, 4], 2, 1)))
    assert.isTrue(
      reconfigure._tag === "DecommissionedSled" && reconfigure.epoch === 2 && reconfigure.lastCommittedEpoch === 1
    )
    removed.handle(sled(0), peerMsg(new GetShare({ epoch: 1, proof: c.proof(1) })))
    removed.handle(sled(0), peerMsg(new ExpungedReply({ config: two, proof: proofOf(two) })))
    assert.deepStrictEqual(removed.ctx.envelopes, [])
    // Loading is not blocked, but nobody answers an expunged node any more.
    assert.isTrue(Option.isNone(unwrap(removed.loadRackSecret(1))))
  })
})

describe("scenario: CommitAdvance reaches a node stuck at an old epoch", () => {
  it("the stuck node learns the newer commit when it asks for a share, rebuilds its share, and unlocks both epochs", () => {
    const c = new TestCluster(4)
    c.connectAll()
    c.commitEpoch(0, epoch(1, [0, 1, 2, 3], 3, null))
    const [one] = c.loadEverywhere([0], 1)
    c.isolate(3)
    // Node 3 misses the prepare of epoch 2, and the control plane never reaches it.
    const two = c.commitEpoch(1, epoch(2, [0, 1, 2, 3], 3, 1))
    const stuck = c.node(3)
    assert.deepStrictEqual(stuck.status().persistentState.commits, [1])
    for (const i of [0, 1, 2]) c.connect(i, 3)
    assert.isTrue(Option.isNone(unwrap(stuck.loadRackSecret(1))))
    c.deliverAll()
    assert.deepStrictEqual(stuck.status().persistentState.commits, [1, 2])
    assert.isFalse(stuck.isComputingKeyShare())
    const share = stuck.ctx.persistentState.shares.get(2)
    const digest = two.digestOf(sled(3))
    assert.isTrue(share !== undefined && digest !== undefined && digestEquals(shareDigest(share), digest))
    // Its collector still targets epoch 1; the next call retargets it to epoch 2.
    assert.isTrue(stuck.isCollectingSharesForRackSecret(1) && !stuck.isCollectingSharesForRackSecret(2))
    const [mine, theirs] = c.loadEverywhere([3, 2], 2)
    assert.isTrue(mine !== undefined && theirs !== undefined && mine.equals(theirs))
    const oldOne = some(unwrap(stuck.loadRackSecret(1)))
    assert.isTrue(one !== undefined && oldOne.equals(one))
  })
})

describe("scenario: the encrypted chain of prior secrets", () => {
  it("after three reconfigurations the latest secret brings every older committed secret, and an aborted epoch's never", () => {
    const c = new TestCluster(6)
    c.connectAll()
    c.commitEpoch(0, epoch(1, [0, 1, 2, 3], 3, null))
    const [s1] = c.loadEverywhere([0], 1)
    c.commitEpoch(1, epoch(2, [0, 1, 2, 3, 4], 3, 1))
    const [s2] = c.loadEverywhere([1], 2)
    // Epoch 3 is prepared everywhere but aborted: never committed.
    c.prepareEpoch(2, epoch(3, [1, 2, 3, 4], 3, 2))
    const preparedShares = [1, 2, 3, 4].flatMap((i): ReadonlyArray<Gfss.Share> => {
      const s = c.node(i).ctx.persistentState.shares.get(3)
      return s === undefined ? [] : [s]
    })
    const s3 = unwrap(RackSecret.reconstruct(preparedShares))
    c.commitEpoch(4, epoch(4, [1, 2, 3, 4, 5], 3, 2))
    const [s4] = c.loadEverywhere([4], 4)
    c.commitEpoch(5, epoch(5, [2, 3, 4, 5], 2, 4))
    const [s5] = c.loadEverywhere([2], 5)
    // Node 5 joined at epoch 4: it never held a share of epochs 1 and 2, yet loading epoch 5 yields them.
    const node = c.node(5)
    node.clearSecrets()
    c.loadEverywhere([5], 5)
    assert.deepStrictEqual(node.loadedEpochs(), [1, 2, 4, 5])
    const expected = new Map([
      [1, s1],
      [2, s2],
      [4, s4],
      [5, s5]
    ])
    for (const [e, secret] of expected) {
      const loaded = some(unwrap(node.loadRackSecret(e)))
      assert.isTrue(secret !== undefined && loaded.equals(secret), `epoch ${e}`)
      assert.isFalse(loaded.equals(s3), `epoch ${e} is not the aborted secret`)
    }
    const aborted = failure(node.loadRackSecret(3))
    assert.isTrue(aborted._tag === "NotAvailable" && aborted.epoch === 3)
    assert.strictEqual(failure(node.loadRackSecret(6))._tag, "NotCommitted")
  })
})

describe("property: prepare, commit and PrepareAndCommit", () => {
  it("whoever missed the prepare rebuilds its exact share, and every member of each epoch unlocks the same secrets", () => {
    const arbitrary = fc.integer({ min: 3, max: 7 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        k: fc.integer({ min: 2, max: n - 1 }),
        offline: fc.subarray(Array.from({ length: n - 1 }, (_, i) => i + 1)),
        added: fc.integer({ min: 0, max: 2 }),
        removed: fc.subarray(
          Array.from({ length: n - 1 }, (_, i) => i + 1),
          { maxLength: 1 }
        ),
        seed: fc.integer()
      })
    )
    fc.assert(
      fc.property(arbitrary, ({ n, k, offline, added, removed, seed }) => {
        const members = Array.from({ length: n }, (_, i) => i)
        const missed = offline.slice(0, n - k)
        const c = new TestCluster(n + added, seed)
        c.connectAll(members.filter((i) => !missed.includes(i)))
        const one = c.commitEpoch(0, epoch(1, members, k, null))
        for (const i of missed) for (const j of members) if (i !== j) c.connect(i, j)
        for (const i of missed) assert.strictEqual(unwrap(c.node(i).prepareAndCommit(one, proofOf(one))), "Pending")
        c.deliverAll()
        for (const i of members) {
          assert.strictEqual(unwrap(c.node(i).prepareAndCommit(one, proofOf(one))), "Committed")
          const share = c.node(i).ctx.persistentState.shares.get(1)
          const digest = one.digestOf(sled(i))
          assert.isTrue(share !== undefined && digest !== undefined && digestEquals(shareDigest(share), digest))
        }
        const firstSecrets = c.loadEverywhere(members, 1)
        for (const s of firstSecrets) assert.isTrue(firstSecrets[0]?.equals(s))
        // A second epoch: some members added, at most one removed, coordinated by node 0.
        c.connectAll()
        const next = [...members.filter((i) => !removed.includes(i)), ...Array.from({ length: added }, (_, i) => n + i)]
        if (next.length < 3) return
        const two = c.commitEpoch(0, epoch(2, next, Math.max(2, next.length - 1), 1))
        for (const i of next)
          if (!c.node(i).ctx.persistentState.commits.has(2)) unwrap(c.node(i).prepareAndCommit(two, proofOf(two)))
        c.deliverAll()
        for (const i of next) c.node(i).clearSecrets()
        const secondSecrets = c.loadEverywhere(next, 2)
        for (const s of secondSecrets) assert.isTrue(secondSecrets[0]?.equals(s))
        for (const i of next) {
          const old = some(unwrap(c.node(i).loadRackSecret(1)))
          assert.isTrue(firstSecrets[0] !== undefined && old.equals(firstSecrets[0]))
        }
      }),
      { seed: 42, numRuns: 40 }
    )
  })
})
