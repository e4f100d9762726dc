import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { type Check, checks } from "../../src/protocol/Policy.ts"
import { type AdversaryProfile, adversaryCase, adversaryProfiles, type Case } from "../../src/testing/Action.ts"
import * as EventLog from "../../src/testing/EventLog.ts"
import { InvariantViolation } from "../../src/testing/Simulation.ts"

const cases = Number(process.env.TQ_SIM_CASES ?? 8)

/** Runs `c`; the name of the invariant it violated, if any. */
const violated = (c: Case, skip?: ReadonlySet<Check>): string | undefined => {
  try {
    EventLog.run(c, undefined, skip)
    return undefined
  } catch (error) {
    if (error instanceof InvariantViolation) return error.invariant
    throw error
  }
}

/**
 * The mutation table: each check (or, for a check that is pure defence in depth, the pair that must be
 * removed together) with the profile that exposes it fastest and the invariant that catches it first.
 * - `PrepareEpoch` is redundant: a node always holds the configuration of its latest committed epoch, so
 *   a Prepare for that epoch must equal it (`PrepareConfiguration`) and carry the share its digest names
 *   (`PrepareShare`) — the very share it holds. With either removed too, the committed share is overwritten.
 * - `Bounds` is redundant: every configuration a node acts on also needs a control-plane signature, and
 *   the control plane signs nothing out of bounds. With `PrepareSignature` removed too, planted
 *   configurations (of 40 members, threshold 0, epoch 2^40) are stored.
 * `PrepareSender` is not redundant: without it, any genuine authorization a node ever saw can carry a
 * configuration with fresh shares to members that have not stored that epoch yet.
 */
const mutations: ReadonlyArray<{
  readonly skip: ReadonlyArray<Check>
  readonly profile: AdversaryProfile
  readonly caughtBy: string
}> = [
  { skip: ["PrepareSender"], profile: "Member", caughtBy: "SameConfigurationPerEpoch" },
  { skip: ["PrepareSignature"], profile: "Outsider", caughtBy: "SameConfigurationPerEpoch" },
  { skip: ["PrepareEpoch", "PrepareConfiguration"], profile: "Member", caughtBy: "CommittedShareUnchanged" },
  { skip: ["PrepareConfiguration"], profile: "Member", caughtBy: "ShareMatchesDigest" },
  { skip: ["PrepareShare"], profile: "Member", caughtBy: "ShareMatchesDigest" },
  { skip: ["CommitProof"], profile: "Member", caughtBy: "CommitsCarryControlPlaneSignature" },
  { skip: ["CommitAdvanceProof"], profile: "Member", caughtBy: "NoAlarms" },
  { skip: ["ExpungedProof"], profile: "Outsider", caughtBy: "ExpungedOnlyWhenRemoved" },
  { skip: ["ExpungedExcludes"], profile: "Outsider", caughtBy: "ExpungedOnlyWhenRemoved" },
  { skip: ["GetShareProof"], profile: "Member", caughtBy: "SharesOnlyOfCommittedMembership" },
  { skip: ["Bounds", "PrepareSignature"], profile: "Removed", caughtBy: "SameConfigurationPerEpoch" }
]

/** Mutation runs scan at most this many short fixed-seed cases. */
const mutationBound = 12

describe("adversarial cluster simulation", () => {
  for (const profile of adversaryProfiles) {
    it(`${cases} random cases with a Byzantine ${profile.toLowerCase()} keep every invariant and end live`, () => {
      let events = 0
      fc.assert(
        fc.property(adversaryCase(profile, 300, 2000), (c) => {
          try {
            events += EventLog.run(c).stats.events
          } catch (error) {
            if (error instanceof InvariantViolation) {
              const path = EventLog.write(c)
              throw new Error(`${error.message}\n  seed ${c.seed}; event log: ${path} (npm run replay -- ${path})`)
            }
            throw error
          }
        }),
        { numRuns: cases, seed: Number(process.env.TQ_SIM_SEED ?? 20261129), endOnFailure: true }
      )
      assert.isAbove(events, cases * 300)
    })
  }

  it("an adversarial case round-trips through its event log and replays to the same state", () => {
    const [c] = fc.sample(adversaryCase("Member", 300, 400), { seed: 11, numRuns: 1 })
    if (c === undefined) throw new Error("no sample")
    const decoded = EventLog.decode(EventLog.encode(c))
    assert.deepStrictEqual(decoded, c)
    const a = EventLog.run(c)
    const b = EventLog.run(decoded)
    assert.deepStrictEqual(a.stats, b.stats)
    assert.deepStrictEqual(a.describe(), b.describe())
  })

  it("every authority check is in the mutation table, alone or in a pair", () => {
    const covered = new Set(mutations.flatMap((m) => m.skip))
    assert.deepStrictEqual(
      checks.filter((c) => !covered.has(c)),
      []
    )
  })

  for (const { skip, profile, caughtBy } of mutations) {
    it(`without ${skip.join(" and ")}, a Byzantine ${profile.toLowerCase()} is caught by ${caughtBy}`, () => {
      const samples = fc.sample(adversaryCase(profile, 300, 600), { seed: 7, numRuns: mutationBound })
      let caught: string | undefined
      for (const c of samples) {
        caught = violated(c, new Set(skip))
        if (caught !== undefined) break
      }
      assert.strictEqual(caught, caughtBy)
    })
  }
})
