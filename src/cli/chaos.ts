/**
 * `npm run chaos -- [--campaigns N] [--rounds R] [--seed S] [--quiet]`: process-fault campaigns (see
 * `src/testing/ProcessCampaign.ts`), one after another with seeds S, S+1, …. Progress goes to stderr;
 * the figures of all campaigns go to stdout as one JSON line. Fails on the first failed campaign,
 * whose directory (configs, ledgers, logs) is kept for inspection. Flags are parsed like `tq`'s.
 */
import { Clock, Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import * as ProcessCampaign from "../testing/ProcessCampaign.ts"
import * as Main from "./Main.ts"

const chaos = Command.make(
  "chaos",
  {
    campaigns: Main.countFlag("campaigns", 5, "how many racks to build and torment"),
    rounds: Main.countFlag("rounds", 6, "fault rounds per campaign"),
    seed: Main.countFlag("seed", 1, "the seed of the first campaign"),
    quiet: Flag.Boolean("quiet").pipe(
      Flag.withDefault(false),
      Flag.withDescription("print only the campaign headers and the figures")
    )
  },
  Effect.fn(function* ({ campaigns, rounds, seed, quiet }) {
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
).pipe(Command.withDescription("Process-fault campaigns on racks of real node processes; one JSON line of figures"))

Main.run(chaos, "0.1.0")
