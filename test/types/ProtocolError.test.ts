import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as ProtocolError from "../../src/types/ProtocolError.ts"

const samples = [
  new ProtocolError.CoordinatorMustBeAMemberOfNewGroup({}),
  new ProtocolError.ThresholdMismatch({ numMembers: 3, threshold: 3 }),
  new ProtocolError.InvalidMembershipSize({ size: 2 }),
  new ProtocolError.InvalidThreshold({ threshold: 1 }),
  new ProtocolError.InvalidRackId({
    expected: "0123e456-789a-4bcd-8f01-23456789abcd",
    got: "9999e456-789a-4bcd-8f01-23456789abcd"
  }),
  new ProtocolError.DecommissionedSled({ epoch: 3, from: "p:1", lastCommittedEpoch: 2 }),
  new ProtocolError.LastCommittedEpochMismatch({ nodeEpoch: 2, msgEpoch: null }),
  new ProtocolError.PreparedEpochMismatch({ existing: 4, requested: 4 }),
  new ProtocolError.ReconfigurationInProgress({ currentEpoch: 5, msgEpoch: 4 }),
  new ProtocolError.MismatchedReconfigurationForSameEpoch({ epoch: 4 }),
  new ProtocolError.NotPrepared({ epoch: 2 }),
  new ProtocolError.Expunged({ epoch: 3, from: "p:1" }),
  new ProtocolError.NotAMember({ epoch: 2 }),
  new ProtocolError.Superseded({ epoch: 2, latestCommitted: 3 }),
  new ProtocolError.NoCommittedConfigurations({}),
  new ProtocolError.NotCommitted({ epoch: 9 }),
  new ProtocolError.NotAvailable({ epoch: 1 })
]

describe("ProtocolError", () => {
  it("every error has a readable message naming its data", () => {
    for (const e of samples) assert.isAbove(e.message.length, 20, e._tag)
    assert.strictEqual(
      new ProtocolError.NotPrepared({ epoch: 2 }).message,
      "the node has not prepared epoch 2; send PrepareAndCommit instead"
    )
    assert.match(
      new ProtocolError.LastCommittedEpochMismatch({ nodeEpoch: 2, msgEpoch: null }).message,
      /is 2, the request assumed none/
    )
  })

  it("operation unions round-trip through JSON and come back as the same class", () => {
    const codec = Schema.toCodecJson(ProtocolError.CommitError)
    for (const e of [
      new ProtocolError.NotPrepared({ epoch: 2 }),
      new ProtocolError.Expunged({ epoch: 3, from: "p:1" })
    ]) {
      const back = Schema.decodeUnknownSync(codec)(JSON.parse(JSON.stringify(Schema.encodeSync(codec)(e))))
      assert.strictEqual(back._tag, e._tag)
      assert.strictEqual(back.constructor, e.constructor)
      assert.strictEqual(back.message, e.message)
    }
  })

  it("a commit error union refuses a reconfiguration error", () => {
    const encoded = Schema.encodeSync(Schema.toCodecJson(ProtocolError.ReconfigurationError))(
      new ProtocolError.InvalidThreshold({ threshold: 1 })
    )
    assert.strictEqual(Schema.decodeUnknownExit(Schema.toCodecJson(ProtocolError.CommitError))(encoded)._tag, "Failure")
  })

  it.effect("errors are yieldable and catchable by tag", () =>
    Effect.gen(function* () {
      const program: Effect.Effect<string, ProtocolError.CommitError> = new ProtocolError.NotPrepared({ epoch: 2 })
      const caught = yield* program.pipe(Effect.catchTag("NotPrepared", (e) => Effect.succeed(`fallback ${e.epoch}`)))
      assert.strictEqual(caught, "fallback 2")
    })
  )
})
