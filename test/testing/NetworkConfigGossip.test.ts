import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Rules from "../../src/protocol/NetworkConfig.ts"
import { GossipViolation, gossipCase, run } from "../../src/testing/NetworkConfigGossip.ts"

const cases = Number(process.env.TQ_GOSSIP_CASES ?? 200)

describe("network-config gossip simulation", () => {
  it("no node ever moves to a lower generation or holds an unsigned config, and every node converges", () => {
    let converged = 0
    fc.assert(
      fc.property(gossipCase(80), (c) => {
        const report = run(c)
        if (report.finalGeneration > 0) converged++
      }),
      { numRuns: cases, seed: 16 }
    )
    // Most cases accept at least one update, so convergence is exercised, not vacuous.
    assert.isAbove(converged, cases / 2)
  })

  it("a fixed case replays exactly: late joiner, crash, lost frame, stale update, forgery", () => {
    const report = run({
      nodes: 3,
      initiallyRunning: 2,
      actions: [
        { _tag: "LinkUp", a: 0, b: 1 },
        { _tag: "Update", sel: 0, generation: 2 },
        { _tag: "Deliver", sel: 0 },
        { _tag: "Crash", sel: 1 },
        { _tag: "Update", sel: 0, generation: 5 },
        { _tag: "Update", sel: 0, generation: 5 },
        { _tag: "Update", sel: 0, generation: 4 },
        { _tag: "Start", sel: 0 },
        { _tag: "Start", sel: 0 },
        { _tag: "LinkUp", a: 0, b: 1 },
        { _tag: "Lose", sel: 0 },
        { _tag: "Forge", sel: 1, generation: 3 }
      ]
    })
    assert.deepStrictEqual(report, { events: 20, accepted: 2, adopted: 3, refused: 3, finalGeneration: 5 })
  })

  it("the invariant is load-bearing: a rule that adopts an older authorized push is caught moving a node down", () => {
    const adoptOlder: typeof Rules.receive = (current, from, pushed, context) => {
      const receipt = Rules.receive(current, from, pushed, context)
      return receipt._tag === "Ignore" && receipt.reason === "Stale" ? { _tag: "Adopt", config: pushed } : receipt
    }
    const found = fc.check(
      fc.property(gossipCase(80), (c) => {
        run(c, { unsafeReceive: adoptOlder })
      }),
      { numRuns: cases, seed: 16 }
    )
    assert.isTrue(found.failed)
    assert.instanceOf(found.errorInstance, GossipViolation)
    assert.match(String(found.errorInstance), /moved from generation \d+ down to \d+/)
  })
})
