/**
 * The short profile of the process-fault campaign (`npm run chaos` runs long ones): real node
 * processes over mutual TLS, a membership change per round under kill -9 and SIGSTOP/SIGCONT, proxied
 * probes throughout, then the unlock check, the ledger audit and the log scan. Prints its figures line.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProcessCampaign from "../../src/testing/ProcessCampaign.ts"

const rounds = Number(process.env.TQ_CHAOS_ROUNDS ?? 2)

describe("process faults", () => {
  it.live(
    "a rack of node processes changes membership under kill -9, pauses and network outages; nothing is lost, hung, defective or leaked",
    () =>
      Effect.gen(function* () {
        const figures = yield* ProcessCampaign.runCampaign({ seed: 11, rounds })
        console.log(ProcessCampaign.figuresLine(figures))
        assert.strictEqual(figures.rounds, rounds)
        assert.isAtLeast(figures.kills + figures.pauses + figures.outages, rounds)
        assert.strictEqual(figures.reconfigurations, rounds + 1)
        assert.isAbove(figures.probeOutcomes.Success ?? 0, 0)
        assert.isAbove(figures.unlocks, 2)
        assert.isAbove(figures.invariantChecks, 0)
        assert.isAbove(figures.logLines, 100)
        assert.deepStrictEqual(
          { lost: figures.lost, hung: figures.hung, defects: figures.defects, leaks: figures.leaks },
          { lost: 0, hung: 0, defects: 0, leaks: 0 }
        )
      }),
    60_000 + rounds * 30_000
  )
})
