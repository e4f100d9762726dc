/**
 * `npm run sim -- [--cases N] [--seed S] [--min A] [--max B] [--adversary Outsider|Removed|Member|all]`: a
 * long simulation campaign, with a Byzantine node of that profile (`all`: a profile drawn for each case).
 * Prints one JSON line of figures (cases, events, invariant checks, deliveries, crashes, acknowledgements
 * lost, wall time); on a violation it writes the failing case's event log, names the replay command and
 * exits 1. Flags are parsed like `tq`'s (`--help`, unknown flags refused).
 */
import { Clock, Console, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as fc from "fast-check"
import { adversaryCase, adversaryProfiles, type Case, testCase } from "../testing/Action.ts"
import * as EventLog from "../testing/EventLog.ts"
import { emptyStats, InvariantViolation } from "../testing/Simulation.ts"
import * as Main from "./Main.ts"

/** A case broke an invariant (its event log is written for replay), or the campaign itself failed. */
export class SimulationFailed extends Schema.TaggedError<SimulationFailed>()("SimulationFailed", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

const sim = Command.make(
  "sim",
  {
    cases: Main.countFlag("cases", 1000, "how many random cases to run"),
    seed: Flag.Int("seed").pipe(Flag.optional, Flag.withDescription("the fast-check seed (default: from the clock)")),
    min: Main.countFlag("min", 300, "the fewest actions in a case"),
    max: Main.countFlag("max", 2000, "the most actions in a case"),
    adversary: Flag.Literals("adversary", [...adversaryProfiles, "all"]).pipe(
      Flag.optional,
      Flag.withDescription("a Byzantine node of this profile in every case (all: a profile drawn per case)")
    )
  },
  Effect.fn(function* ({ cases, seed: seedFlag, min, max, adversary }) {
    const started = yield* Clock.currentTimeMillis
    const seed = seedFlag._tag === "Some" ? seedFlag.value : started % 2 ** 31
    const totals = { cases: 0, ...emptyStats(), lost: 0 }
    let failure: string | undefined
    const profiles = adversaryProfiles.filter((p) => adversary._tag === "Some" && [p, "all"].includes(adversary.value))
    const arbitrary: fc.Arbitrary<Case> =
      profiles.length === 0 ? testCase(min, max) : fc.oneof(...profiles.map((p) => adversaryCase(p, min, max)))
    const report = fc.check(
      fc.property(arbitrary, (c) => {
        try {
          const sim = EventLog.run(c)
          totals.cases++
          for (const k of Object.keys(sim.stats) as Array<keyof typeof sim.stats>) totals[k] += sim.stats[k]
          totals.lost += sim.lostAcknowledgements()
        } catch (error) {
          if (error instanceof InvariantViolation) {
            failure = `${error.message}\nreplay: npm run replay -- ${EventLog.write(c)}`
          }
          throw error
        }
      }),
      { numRuns: cases, seed, endOnFailure: true }
    )
    const seconds = Math.round(((yield* Clock.currentTimeMillis) - started) / 100) / 10
    const failed = report.failed ? (failure ?? String(report.errorInstance)) : undefined
    yield* Console.log(
      JSON.stringify({
        ...totals,
        adversary: adversary._tag === "Some" ? adversary.value : "none",
        seed,
        seconds,
        failed: failed === undefined ? 0 : 1
      })
    )
    if (failed !== undefined) return yield* new SimulationFailed({ detail: failed })
  })
).pipe(Command.withDescription("A long simulation campaign over the pure protocol; prints one JSON line of figures"))

Main.run(sim, "0.1.0")
