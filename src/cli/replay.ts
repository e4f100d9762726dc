/**
 * `npm run replay -- FILE`: re-runs a simulation event log exactly and prints every node's state after
 * each event, ending with the violated invariant if the case fails.
 */
import { readFileSync } from "node:fs"
import * as EventLog from "../testing/EventLog.ts"

const file = process.argv[2]
if (file === undefined) {
  console.error("usage: npm run replay -- FILE.jsonl")
  process.exit(2)
}
const c = EventLog.decode(readFileSync(file, "utf8"))
try {
  EventLog.replay(c, (line) => console.log(line))
  console.log("the case passes every invariant and the liveness phase")
} catch (error) {
  console.log(`VIOLATION ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
