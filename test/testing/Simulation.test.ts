import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { testCase } from "../../src/testing/Action.ts"
import * as EventLog from "../../src/testing/EventLog.ts"
import { InvariantViolation, Simulation } from "../../src/testing/Simulation.ts"

const cases = Number(process.env.TQ_SIM_CASES ?? 40)

describe("cluster simulation", () => {
  it(`${cases} random cases keep every invariant and end live, with equal secrets`, () => {
    let events = 0
    let checks = 0
    let lost = 0
    fc.assert(
      fc.property(testCase(300, 2000), (c) => {
        try {
          const sim = EventLog.run(c)
          events += sim.stats.events
          checks += sim.stats.invariantChecks
          lost += sim.lostAcknowledgements()
        } catch (error) {
          if (error instanceof InvariantViolation) {
            const path = EventLog.write(c)
            throw new Error(`${error.message}\n  seed ${c.seed}; event log: ${path} (npm run replay -- ${path})`)
          }
          throw error
        }
      }),
      {
        numRuns: cases,
        seed: Number(process.env.TQ_SIM_SEED ?? 20261125),
        endOnFailure: process.env.TQ_SIM_SHRINK !== "1"
      }
    )
    assert.isAbove(events, cases * 300)
    assert.isAbove(checks, events)
    assert.strictEqual(lost, 0)
  })

  it("the same case replays to the same secret, byte for byte", () => {
    const [c] = fc.sample(testCase(300, 400), { seed: 9, numRuns: 1 })
    if (c === undefined) throw new Error("no sample")
    const a = EventLog.run(c)
    const b = EventLog.run(EventLog.decode(EventLog.encode(c)))
    assert.deepStrictEqual(a.stats, b.stats)
    assert.deepStrictEqual(a.describe(), b.describe())
  })

  it("a first configuration commits and every member loads the same secret", () => {
    const sim = new Simulation({ seed: 1 })
    sim.start({ members: 4, threshold: 1, coordinator: 0 })
    for (let i = 0; i < 40; i++) sim.apply({ _tag: "Deliver", sel: i })
    const secret = sim.finish()
    assert.isDefined(secret)
    assert.strictEqual(sim.nexus.latest?.op, "Committed")
  })

  it("the deliberate bug — acknowledging before persisting — is caught by a durability invariant", () => {
    let caught: string | undefined
    let lost = 0
    for (let seed = 0; seed < 400 && caught === undefined; seed++) {
      const [c] = fc.sample(testCase(300, 600), { seed, numRuns: 1 })
      if (c === undefined) continue
      const sim = new Simulation({ seed: c.seed, persistBeforeSend: false })
      try {
        sim.start(c.initial)
        for (const a of c.actions) sim.apply(a)
        sim.finish()
      } catch (error) {
        if (!(error instanceof InvariantViolation)) throw error
        caught = error.invariant
        lost = sim.lostAcknowledgements()
      }
    }
    // The durability invariants catch it: a node acknowledged a prepare (or a commit) it then lost in a crash.
    assert.oneOf(caught, ["PreparedIfAcked", "CommittedIfNexusHasCommitAck"])
    // …and the campaign's "lost" figure counts it, from the disks.
    assert.isAbove(lost, 0)
  })
})
