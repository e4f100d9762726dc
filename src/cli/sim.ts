/**
 * `npm run sim -- --cases N [--seed S] [--min A] [--max B] [--adversary Outsider|Removed|Member|all]`: a
 * long simulation campaign, with a Byzantine node of that profile (`all`: a profile drawn for each
 * case). Prints one JSON line of figures (cases, events, invariant checks, deliveries, crashes, wall
 * time); on a violation it writes the failing case's event log and prints the replay command, exits 1.
 */
import * as fc from "fast-check"
import { type AdversaryProfile, adversaryCase, adversaryProfiles, type Case, testCase } from "../testing/Action.ts"
import * as EventLog from "../testing/EventLog.ts"
import { emptyStats, InvariantViolation } from "../testing/Simulation.ts"
import { intArg } from "./ScriptArgs.ts"

const cases = intArg("cases", 1000)
const adversaryFlag = process.argv.indexOf("--adversary")
const adversary = adversaryFlag >= 0 ? process.argv[adversaryFlag + 1] : undefined
const profiles = adversaryProfiles.filter((p) => adversary === "all" || adversary === p)
if (adversary !== undefined && profiles.length === 0) {
  console.error(`--adversary takes one of ${adversaryProfiles.join(", ")} or all`)
  process.exit(2)
}
const [min, max] = [intArg("min", 300), intArg("max", 2000)]
const arbitrary: fc.Arbitrary<Case> =
  profiles.length === 0
    ? testCase(min, max)
    : fc.oneof(...profiles.map((p: AdversaryProfile) => adversaryCase(p, min, max)))
const seed = intArg("seed", Date.now() % 2 ** 31)
const totals = { cases: 0, ...emptyStats() }
const started = performance.now()
let failure: string | undefined

const report = fc.check(
  fc.property(arbitrary, (c) => {
    try {
      const { stats } = EventLog.run(c)
      totals.cases++
      for (const k of Object.keys(stats) as Array<keyof typeof stats>) totals[k] += stats[k]
    } catch (error) {
      if (error instanceof InvariantViolation) {
        const path = EventLog.write(c)
        failure = `${error.message}\nreplay: npm run replay -- ${path}`
      }
      throw error
    }
  }),
  { numRuns: cases, seed, endOnFailure: true }
)

if (report.failed && failure === undefined) failure = String(report.errorInstance)
const summary = {
  ...totals,
  adversary: adversary ?? "none",
  seed,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  lost: 0,
  failed: failure === undefined ? 0 : 1
}
console.log(JSON.stringify(summary))
if (failure !== undefined) {
  console.error(failure)
  process.exit(1)
}
