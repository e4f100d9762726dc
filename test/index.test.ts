import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Tq from "../src/index.ts"
import * as TqTesting from "../src/testing/index.ts"

describe("public entry point", () => {
  it("exposes the modules as namespaces", () => {
    const split = Tq.Gfss.split(new Uint8Array(32).fill(1), 3, 2, Tq.Rng.system)
    assert.isTrue(Result.isSuccess(split))
    assert.strictEqual(Tq.Gf256.mul(2, 128), 0x1b)
    assert.strictEqual(String(Tq.BaseboardId.make("p", "1")), "p:1")
    assert.strictEqual(String(Tq.RackSecret.RackSecret.generate()), "RackSecret(<redacted>)")
    assert.strictEqual(typeof Tq.TrustQuorumNode.TrustQuorumNode.layer, "function")
  })

  it("keeps the simulator out of the main entry; the testing entry has it", () => {
    assert.isFalse("Simulation" in Tq)
    assert.isFalse("SimulationAction" in Tq)
    const split = Tq.Gfss.split(new Uint8Array(32).fill(1), 3, 2, TqTesting.SeededRng.seeded(1))
    assert.isTrue(Result.isSuccess(split))
    assert.strictEqual(typeof TqTesting.SimulationAction.testCase, "function")
  })
})
