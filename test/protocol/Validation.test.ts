import { assert, describe, it } from "@effect/vitest"
import { Option, Result } from "effect"
import { Policy } from "../../src/protocol/Policy.ts"
import {
  sameReconfiguration,
  validateCommit,
  validatePrepareAndCommit,
  validateReconfiguration,
  validateShare
} from "../../src/protocol/Validation.ts"
import { Configuration } from "../../src/types/Configuration.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { type ReconfigureMsg, ReconfigureMsg as ReconfigureMsgClass } from "../../src/types/Request.ts"
import { authority, committedRack, otherRackId, proofOf, rackId, reconfigureMsg, sled } from "./TestCluster.ts"

const policy = new Policy(authority.publicKey)

const msg = (
  o: Partial<{
    epoch: number
    members: ReadonlyArray<number>
    threshold: number
    lastCommittedEpoch: number | null
    rackId: string
  }>
) =>
  reconfigureMsg(
    {
      epoch: o.epoch ?? 2,
      members: o.members ?? [0, 1, 2, 3],
      threshold: o.threshold ?? 3,
      lastCommittedEpoch: o.lastCommittedEpoch === undefined ? 1 : o.lastCommittedEpoch
    },
    0,
    o.rackId ?? rackId
  )

const withRackId = (c: Configuration, rack: string) =>
  new Configuration({
    rackId: rack,
    epoch: c.epoch,
    coordinator: c.coordinator,
    members: c.members,
    threshold: c.threshold,
    encryptedRackSecrets: c.encryptedRackSecrets,
    authorization: c.authorization
  })

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Node 0's state in a 4-node rack that committed epoch 1, plus that rack (for epoch 2 and shares). */
const fixture = () => {
  const { c, config } = committedRack()
  return { c, config, state: c.node(0).ctx.persistentState, proof: proofOf(config) }
}

const expungedAt2 = (s: PersistentState.PersistentState) =>
  PersistentState.update(s, (d) => {
    d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 2, from: sled(1) }))
  })

const reconfigure = (state: PersistentState.PersistentState, m: ReconfigureMsg, coordinating?: ReconfigureMsg) =>
  validateReconfiguration(sled(0), policy, state, m, coordinating)

const errorOf = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) throw new Error(`expected a failure, got ${String(r.success)}`)
  return r.failure
}

describe("validateReconfiguration: the rules of reference §4.2 in order", () => {
  const { state } = fixture()

  it("a coordinator outside the new group fails first, even when the sizes are also wrong", () => {
    const e = errorOf(reconfigure(state, msg({ members: [1, 2], threshold: 3 })))
    assert.strictEqual(e._tag, "CoordinatorMustBeAMemberOfNewGroup")
  })

  it("N ≤ K fails with ThresholdMismatch before the size and threshold bounds", () => {
    const small = errorOf(reconfigure(state, msg({ members: [0, 1], threshold: 2 })))
    assert.isTrue(small._tag === "ThresholdMismatch" && small.numMembers === 2 && small.threshold === 2)
    const big = errorOf(reconfigure(state, msg({ members: range(32), threshold: 32 })))
    assert.isTrue(big._tag === "ThresholdMismatch" && big.numMembers === 32 && big.threshold === 32)
  })

  it("a member count outside 3..32 fails with InvalidMembershipSize before the threshold bound", () => {
    const two = errorOf(reconfigure(state, msg({ members: [0, 1], threshold: 1 })))
    assert.isTrue(two._tag === "InvalidMembershipSize" && two.size === 2)
    const many = errorOf(reconfigure(state, msg({ members: range(33), threshold: 17 })))
    assert.isTrue(many._tag === "InvalidMembershipSize" && many.size === 33)
  })

  it("a threshold outside 2..31 fails with InvalidThreshold before the rack id check", () => {
    const e = errorOf(reconfigure(state, msg({ threshold: 1, rackId: otherRackId })))
    assert.isTrue(e._tag === "InvalidThreshold" && e.threshold === 1)
  })

  it("duplicate members count once", () => {
    const e = errorOf(reconfigure(state, msg({ members: [0, 1, 1, 1], threshold: 2 })))
    assert.isTrue(e._tag === "ThresholdMismatch" && e.numMembers === 2)
  })

  it("another rack's id fails with InvalidRackId before the expunged check", () => {
    const e = errorOf(reconfigure(expungedAt2(state), msg({ rackId: otherRackId })))
    assert.isTrue(e._tag === "InvalidRackId" && e.expected === rackId && e.got === otherRackId)
  })

  it("an expunged node fails with DecommissionedSled before the epoch checks, naming who, when and its last commit", () => {
    const e = errorOf(reconfigure(expungedAt2(state), msg({ lastCommittedEpoch: 7 })))
    assert.isTrue(e._tag === "DecommissionedSled")
    if (e._tag === "DecommissionedSled") {
      assert.deepStrictEqual([e.epoch, e.from, e.lastCommittedEpoch], [2, String(sled(1)), 1])
    }
  })

  it("a different idea of the last committed epoch fails with LastCommittedEpochMismatch before PreparedEpochMismatch", () => {
    const e = errorOf(reconfigure(state, msg({ epoch: 1, lastCommittedEpoch: null })))
    assert.isTrue(e._tag === "LastCommittedEpochMismatch" && e.nodeEpoch === 1 && e.msgEpoch === null)
    const fresh = errorOf(reconfigure(PersistentState.empty, msg({ epoch: 1, lastCommittedEpoch: 1 })))
    assert.isTrue(fresh._tag === "LastCommittedEpochMismatch" && fresh.nodeEpoch === null && fresh.msgEpoch === 1)
  })

  it("an epoch not newer than the latest known configuration fails with PreparedEpochMismatch before the coordination checks", () => {
    const e = errorOf(reconfigure(state, msg({ epoch: 1 }), msg({ epoch: 3 })))
    assert.isTrue(e._tag === "PreparedEpochMismatch" && e.existing === 1 && e.requested === 1)
  })

  it("a request older than the coordination in progress fails with ReconfigurationInProgress", () => {
    const e = errorOf(reconfigure(state, msg({ epoch: 2 }), msg({ epoch: 3 })))
    assert.isTrue(e._tag === "ReconfigurationInProgress" && e.currentEpoch === 3 && e.msgEpoch === 2)
  })

  it("another request for the epoch being coordinated fails with MismatchedReconfigurationForSameEpoch", () => {
    const threshold = errorOf(reconfigure(state, msg({ threshold: 2 }), msg({})))
    assert.isTrue(threshold._tag === "MismatchedReconfigurationForSameEpoch" && threshold.epoch === 2)
    const members = errorOf(reconfigure(state, msg({ members: [0, 1, 2], threshold: 2 }), msg({ threshold: 2 })))
    assert.strictEqual(members._tag, "MismatchedReconfigurationForSameEpoch")
  })

  it("the very request being coordinated is Idempotent, whatever the member order and duplicates", () => {
    assert.deepStrictEqual(reconfigure(state, msg({ members: [3, 2, 1, 0, 0] }), msg({})), Result.succeed("Idempotent"))
    assert.isTrue(sameReconfiguration(msg({ members: [3, 2, 1, 0, 0] }), msg({})))
  })

  it("a request newer than the coordination in progress proceeds (it replaces it)", () => {
    assert.deepStrictEqual(reconfigure(state, msg({ epoch: 3 }), msg({ epoch: 2 })), Result.succeed("Proceed"))
  })

  it("a first configuration on a fresh node proceeds with any rack id", () => {
    const m = msg({ epoch: 1, lastCommittedEpoch: null, rackId: otherRackId })
    assert.deepStrictEqual(reconfigure(PersistentState.empty, m), Result.succeed("Proceed"))
  })
})

describe("validateCommit: the rules of reference §4.4 in order", () => {
  const { state, proof } = fixture()

  it("an expunged node fails with Expunged before the rack id check", () => {
    const e = errorOf(validateCommit(policy, expungedAt2(state), otherRackId, 2, proof))
    assert.isTrue(e._tag === "Expunged" && e.epoch === 2 && e.from === String(sled(1)))
  })

  it("another rack's id fails with InvalidRackId before the epoch checks", () => {
    const e = errorOf(validateCommit(policy, state, otherRackId, 1, proof))
    assert.isTrue(e._tag === "InvalidRackId" && e.expected === rackId && e.got === otherRackId)
  })

  it("a committed epoch is AlreadyCommitted (a duplicate commit changes nothing)", () => {
    assert.deepStrictEqual(validateCommit(policy, state, rackId, 1, proof), Result.succeed("AlreadyCommitted"))
  })

  it("an older epoch never committed here is Superseded by the latest commit", () => {
    const onlyTwo = PersistentState.update(state, (d) => {
      const one = d.configs.get(1)
      const share = d.shares.get(1)
      if (one === undefined || share === undefined) throw new Error("fixture")
      d.configs.set(2, one)
      d.shares.set(2, share)
      d.commits.delete(1)
      d.commits.add(2)
    })
    const e = errorOf(validateCommit(policy, onlyTwo, rackId, 1, proof))
    assert.isTrue(e._tag === "Superseded" && e.epoch === 1 && e.latestCommitted === 2)
  })

  it("an epoch the node has not prepared fails with NotPrepared", () => {
    const e = errorOf(validateCommit(policy, state, rackId, 2, proof))
    assert.isTrue(e._tag === "NotPrepared" && e.epoch === 2)
    const fresh = errorOf(validateCommit(policy, PersistentState.empty, otherRackId, 1, proof))
    assert.strictEqual(fresh._tag, "NotPrepared")
  })

  it("a prepared, uncommitted epoch may be committed", () => {
    const prepared = PersistentState.update(state, (d) => d.commits.delete(1))
    assert.deepStrictEqual(validateCommit(policy, prepared, rackId, 1, proof), Result.succeed("Commit"))
  })
})

describe("validatePrepareAndCommit: the rules of reference §4.5 plus NotAMember and Superseded", () => {
  const { state, config } = fixture()

  it("an expunged node fails with Expunged before the rack id check", () => {
    const foreign = errorOf(validatePrepareAndCommit(sled(0), policy, expungedAt2(state), config, proofOf(config)))
    assert.isTrue(foreign._tag === "Expunged" && foreign.epoch === 2)
  })

  it("a node of another rack fails with InvalidRackId before the membership check", () => {
    const other = PersistentState.update(state, (d) => {
      const one = d.configs.get(1)
      if (one === undefined) throw new Error("fixture")
      d.configs.set(1, withRackId(one, otherRackId))
    })
    const e = errorOf(validatePrepareAndCommit(sled(9), policy, other, config, proofOf(config)))
    assert.isTrue(e._tag === "InvalidRackId" && e.expected === otherRackId && e.got === rackId)
  })

  it("a node outside the configuration fails with NotAMember before the epoch checks", () => {
    const e = errorOf(validatePrepareAndCommit(sled(9), policy, state, config, proofOf(config)))
    assert.isTrue(e._tag === "NotAMember" && e.epoch === 1)
  })

  it("an epoch committed here is AlreadyCommitted", () => {
    assert.deepStrictEqual(
      validatePrepareAndCommit(sled(0), policy, state, config, proofOf(config)),
      Result.succeed("AlreadyCommitted")
    )
  })

  it("an older epoch never committed here is Superseded", () => {
    const onlyTwo = PersistentState.update(state, (d) => {
      d.commits.delete(1)
      d.commits.add(2)
    })
    const e = errorOf(validatePrepareAndCommit(sled(0), policy, onlyTwo, config, proofOf(config)))
    assert.isTrue(e._tag === "Superseded" && e.epoch === 1 && e.latestCommitted === 2)
  })

  it("a fresh node proceeds with any rack id", () => {
    assert.deepStrictEqual(
      validatePrepareAndCommit(sled(0), policy, PersistentState.empty, config, proofOf(config)),
      Result.succeed("Proceed")
    )
  })
})

describe("validateShare (reference §5.6)", () => {
  const { c, config } = fixture()
  const share = (i: number) => {
    const s = c.node(i).ctx.persistentState.shares.get(1)
    if (s === undefined) throw new Error("fixture")
    return s
  }

  it("a member's own share for the configuration's epoch is valid", () => {
    assert.isTrue(Result.isSuccess(validateShare(config, sled(2), 1, share(2))))
  })

  it("a share for another epoch is rejected first, even from a non-member", () => {
    assert.deepStrictEqual(validateShare(config, sled(9), 2, share(2)), Result.fail("ShareWrongEpoch"))
  })

  it("a share from a non-member is rejected", () => {
    assert.deepStrictEqual(validateShare(config, sled(9), 1, share(2)), Result.fail("ShareNotAMember"))
  })

  it("another member's share, or altered bytes, fail the digest check", () => {
    assert.deepStrictEqual(validateShare(config, sled(1), 1, share(2)), Result.fail("ShareDigestMismatch"))
    const altered = { x: share(2).x, y: Uint8Array.from(share(2).y, (b, i) => (i === 0 ? b ^ 1 : b)) }
    assert.deepStrictEqual(validateShare(config, sled(2), 1, altered), Result.fail("ShareDigestMismatch"))
  })
})

describe("the control plane's signatures (authority rules)", () => {
  const { state, config, proof } = fixture()
  const forged = new Uint8Array(64).fill(3)

  it("a reconfiguration not signed by the pinned key, or signed for another coordinator, is NotAuthorized", () => {
    const unsigned = new ReconfigureMsgClass({ ...msg({}), signature: forged })
    const e = errorOf(reconfigure(state, unsigned))
    assert.isTrue(e._tag === "NotAuthorized" && e.decision === "Reconfiguration" && e.reason === "Signature")
    const forOther = reconfigureMsg({ epoch: 2, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: 1 }, 1)
    assert.strictEqual(errorOf(reconfigure(state, forOther))._tag, "NotAuthorized")
    assert.deepStrictEqual(reconfigure(state, msg({})), Result.succeed("Proceed"))
  })

  it("a commit whose proof is not the control plane's signature over the stored configuration is NotAuthorized", () => {
    const prepared = PersistentState.update(state, (d) => d.commits.delete(1))
    const e = errorOf(validateCommit(policy, prepared, rackId, 1, forged))
    assert.isTrue(e._tag === "NotAuthorized" && e.decision === "Commit" && e.epoch === 1 && e.reason === "Signature")
    assert.strictEqual(errorOf(validateCommit(policy, state, rackId, 1, forged))._tag, "NotAuthorized")
    assert.deepStrictEqual(validateCommit(policy, prepared, rackId, 1, proof), Result.succeed("Commit"))
  })

  it("a PrepareAndCommit with a forged proof, or of an out-of-bounds configuration, is NotAuthorized", () => {
    const e = errorOf(validatePrepareAndCommit(sled(0), policy, PersistentState.empty, config, forged))
    assert.isTrue(e._tag === "NotAuthorized" && e.reason === "Signature")
    const wide = new Configuration({ ...config, threshold: 4 })
    const bounds = errorOf(validatePrepareAndCommit(sled(0), policy, PersistentState.empty, wide, proofOf(wide)))
    assert.isTrue(bounds._tag === "NotAuthorized" && bounds.reason === "Bounds")
  })
})
