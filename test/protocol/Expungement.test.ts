import { assert, describe, it } from "@effect/vitest"
import { ExpungedReply } from "../../src/types/PeerMsg.ts"
import * as PersistentState from "../../src/types/PersistentState.ts"
import { peerMsg, proofOf, sled, TestCluster } from "./TestCluster.ts"

describe("Expungement", () => {
  it("a genuine Expunged relayed to a node that only prepared an aborted epoch leaves it free to be added", () => {
    const c = new TestCluster(5)
    c.connectAll()
    // Epoch 1 prepares at sled 4 but is abandoned; epoch 2 starts over without it and commits.
    c.prepareEpoch(0, { epoch: 1, members: [0, 1, 2, 3, 4], threshold: 3, lastCommittedEpoch: null })
    const two = c.commitEpoch(1, { epoch: 2, members: [0, 1, 2], threshold: 2, lastCommittedEpoch: null })
    // A certificate holder relays the genuine verdict on epoch 2, which excludes sled 4.
    c.node(4).handle(sled(3), peerMsg(new ExpungedReply({ config: two, proof: proofOf(two) })))
    assert.isFalse(PersistentState.isExpunged(c.node(4).ctx.persistentState))
    assert.deepStrictEqual(
      c
        .node(4)
        .ctx.dropped.filter((d) => d.kind === "Expunged")
        .map((d) => d.reason),
      ["ExpungedNeverAMember"]
    )
  })
})
