import { assert, describe, it } from "@effect/vitest"
import { Option, Result } from "effect"
import { validateReconfiguration } from "../../src/protocol/Validation.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { ReconfigureMsg } from "../../src/types/Request.ts"
import { Cluster, rackId, sled } from "./cluster.ts"

const otherRack = "9999e456-789a-4bcd-8f01-23456789abcd"
const msg = (
  overrides: Partial<{
    epoch: number
    members: ReadonlyArray<number>
    threshold: number
    lastCommittedEpoch: number | null
    rackId: string
  }>
) =>
  new ReconfigureMsg({
    rackId: overrides.rackId ?? rackId,
    epoch: overrides.epoch ?? 2,
    lastCommittedEpoch: overrides.lastCommittedEpoch === undefined ? 1 : overrides.lastCommittedEpoch,
    members: (overrides.members ?? [0, 1, 2, 3]).map(sled),
    threshold: overrides.threshold ?? 3
  })

/** A node 0 that committed epoch 1 of a 4-node rack. */
const committed = () => {
  const c = new Cluster(4)
  c.connectAll()
  c.commitEpoch({ coordinator: 0, epoch: 1, members: [0, 1, 2, 3], threshold: 3, lastCommittedEpoch: null })
  c.deliverAll()
  return c.node(0).ctx.persistentState
}

const tagOf = (r: Result.Result<unknown, { readonly _tag: string }>) => (Result.isFailure(r) ? r.failure._tag : "Ok")
const check = (state: PersistentState.PersistentState, m: ReconfigureMsg, coordinating?: ReconfigureMsg) =>
  tagOf(validateReconfiguration(sled(0), state, m, coordinating))

describe("validateReconfiguration, rule by rule in order", () => {
  const state = committed()

  it("1. the coordinator must be a member — even when the sizes are also wrong", () => {
    assert.strictEqual(check(state, msg({ members: [1, 2] })), "CoordinatorMustBeAMemberOfNewGroup")
  })

  it("2. N must exceed K — before the size limits", () => {
    assert.strictEqual(check(state, msg({ members: [0, 1], threshold: 2 })), "ThresholdMismatch")
  })

  it("3. N must be 3..32", () => {
    assert.strictEqual(check(state, msg({ members: [0, 1], threshold: 1 })), "InvalidMembershipSize")
    assert.strictEqual(
      check(state, msg({ members: Array.from({ length: 33 }, (_, i) => i), threshold: 17 })),
      "InvalidMembershipSize"
    )
  })

  it("4. K must be 2..31", () => {
    assert.strictEqual(check(state, msg({ threshold: 1 })), "InvalidThreshold")
    assert.strictEqual(
      check(state, msg({ members: Array.from({ length: 32 }, (_, i) => i), threshold: 32 })),
      "ThresholdMismatch"
    )
  })

  it("5. the rack id must match the node's — before the expunged check", () => {
    const expunged = PersistentState.update(state, (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 2, from: sled(1) }))
    })
    assert.strictEqual(check(expunged, msg({ rackId: otherRack })), "InvalidRackId")
  })

  it("6. an expunged node refuses — before the epoch checks", () => {
    const expunged = PersistentState.update(state, (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: 2, from: sled(1) }))
    })
    assert.strictEqual(check(expunged, msg({ lastCommittedEpoch: 7 })), "DecommissionedSled")
  })

  it("7. the last committed epoch must match the node's (both may be none)", () => {
    assert.strictEqual(check(state, msg({ lastCommittedEpoch: null })), "LastCommittedEpochMismatch")
    assert.strictEqual(check(PersistentState.empty, msg({ epoch: 1, lastCommittedEpoch: null })), "Ok")
    assert.strictEqual(
      check(PersistentState.empty, msg({ epoch: 1, lastCommittedEpoch: 1 })),
      "LastCommittedEpochMismatch"
    )
  })

  it("8. the epoch must be newer than every configuration the node knows", () => {
    assert.strictEqual(check(state, msg({ epoch: 1 })), "PreparedEpochMismatch")
  })

  it("9. a newer coordination in progress wins; the same epoch with another request is refused; the same request is idempotent", () => {
    assert.strictEqual(check(state, msg({ epoch: 2 }), msg({ epoch: 3 })), "ReconfigurationInProgress")
    assert.strictEqual(
      check(state, msg({ epoch: 2, threshold: 2 }), msg({ epoch: 2 })),
      "MismatchedReconfigurationForSameEpoch"
    )
    const same = validateReconfiguration(sled(0), state, msg({ epoch: 2 }), msg({ epoch: 2 }))
    assert.isTrue(Result.isSuccess(same) && same.success === "Idempotent")
    const older = validateReconfiguration(sled(0), state, msg({ epoch: 3 }), msg({ epoch: 2 }))
    assert.isTrue(Result.isSuccess(older) && older.success === "Proceed")
  })

  it("member order and duplicates do not make two requests different", () => {
    const a = msg({ members: [3, 2, 1, 0, 0] })
    const same = validateReconfiguration(sled(0), state, msg({}), a)
    assert.isTrue(Result.isSuccess(same) && same.success === "Idempotent")
  })
})
