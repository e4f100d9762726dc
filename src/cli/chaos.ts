/**
 * `npm run chaos -- [--campaigns N] [--rounds R] [--seed S] [--quiet]`: process-fault campaigns (see
 * `src/testing/ProcessCampaign.ts`), one after another with seeds S, S+1, …. Progress goes to stderr;
 * the figures of all campaigns go to stdout as one JSON line. Exits 1 on the first failed campaign,
 * whose directory (configs, ledgers, logs) is kept for inspection.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Effect } from "effect"
import * as ProcessCampaign from "../testing/ProcessCampaign.ts"
import { intArg } from "./ScriptArgs.ts"

const campaigns = intArg("campaigns", 5)
const rounds = intArg("rounds", 6)
const seed = intArg("seed", 1)
const quiet = process.argv.includes("--quiet")

const program = Effect.gen(function* () {
  const started = yield* Clock.currentTimeMillis
  let total: ProcessCampaign.CampaignFigures | undefined
  for (let c = 0; c < campaigns; c++) {
    yield* Console.error(`campaign ${c + 1}/${campaigns} (seed ${seed + c})`)
    const figures = yield* ProcessCampaign.runCampaign({
      seed: seed + c,
      rounds,
      log: (line) => (quiet ? Effect.void : Console.error(line))
    })
    total = total === undefined ? figures : ProcessCampaign.addFigures(total, figures)
  }
  const seconds = Math.round(((yield* Clock.currentTimeMillis) - started) / 100) / 10
  if (total !== undefined) yield* Console.log(ProcessCampaign.figuresLine(total, { seed, seconds }))
})

NodeRuntime.runMain(program)
