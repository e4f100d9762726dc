/**
 * Event logs of the cluster simulation: a failing case is written as JSON lines (a header with the
 * seed and first configuration, then one action per line) so that `replay` re-runs it exactly and
 * shows the state of every node after each event.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"
import type { Check } from "../protocol/Policy.ts"
import { type Action, adversaryProfiles, type Case, forgeries } from "./Case.ts"
import { Simulation } from "./Simulation.ts"

const Sel = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const ActionSchema = Schema.Union([
  Schema.Struct({ _tag: Schema.Literal("Deliver"), sel: Sel }),
  Schema.Struct({ _tag: Schema.Literal("LoadLatestRackSecret"), sel: Sel }),
  Schema.Struct({ _tag: Schema.Literal("LoadRackSecret"), config: Sel, id: Sel }),
  Schema.Struct({ _tag: Schema.Literal("ClearSecrets"), sel: Sel }),
  Schema.Struct({ _tag: Schema.Literal("PollPrepareAcks") }),
  Schema.Struct({ _tag: Schema.Literal("Commit"), sel: Sel }),
  Schema.Struct({ _tag: Schema.Literal("DeliverNexusReply") }),
  Schema.Struct({
    _tag: Schema.Literal("Reconfigure"),
    numAdded: Sel,
    removed: Schema.Array(Sel),
    threshold: Sel,
    coordinator: Sel
  }),
  Schema.Struct({ _tag: Schema.Literal("Crash"), sel: Sel }),
  Schema.Struct({ _tag: Schema.Literal("Restart"), sel: Sel, order: Sel }),
  Schema.Struct({
    _tag: Schema.Literal("Forge"),
    forgery: Schema.Literals(forgeries),
    sel: Sel,
    variant: Sel,
    to: Sel
  }),
  Schema.Struct({ _tag: Schema.Literal("Replay"), sel: Sel, to: Sel })
])
const Header = Schema.Struct({
  seed: Schema.Int,
  initial: Schema.Struct({ members: Sel, threshold: Sel, coordinator: Sel }),
  adversary: Schema.optionalKey(Schema.Literals(adversaryProfiles))
})

const decodeHeader = Schema.decodeUnknownSync(Schema.fromJsonString(Header))
const decodeAction = Schema.decodeUnknownSync(Schema.fromJsonString(ActionSchema))

/** The JSON-lines text of a case. */
export const encode = (c: Case): string =>
  [
    JSON.stringify({
      seed: c.seed,
      initial: c.initial,
      ...(c.adversary === undefined ? {} : { adversary: c.adversary })
    }),
    ...c.actions.map((a) => JSON.stringify(a))
  ].join("\n") + "\n"

/** Parses a log written by `encode`; throws with the Schema issue on a malformed line. */
export const decode = (text: string): Case => {
  const [head, ...rest] = text.split("\n").filter((l) => l.trim() !== "")
  if (head === undefined) throw new Error("empty event log")
  const { seed, initial, adversary } = decodeHeader(head)
  const actions: ReadonlyArray<Action> = rest.map((line) => decodeAction(line))
  return adversary === undefined ? { seed, initial, actions } : { seed, initial, adversary, actions }
}

/** Writes a case's log under `dir` and returns the path. */
export const write = (c: Case, dir = ".tq-sim"): string => {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `case-${c.seed}.jsonl`)
  writeFileSync(path, encode(c))
  return path
}

/**
 * Runs a case to the end (invariants after every event, then liveness); throws on a violation.
 * `unsafeSkipChecks` switches authority checks off on the honest nodes (mutation testing only).
 */
export const run = (
  c: Case,
  onEvent?: (index: number, action: Action | "start" | "finish", sim: Simulation) => void,
  unsafeSkipChecks?: ReadonlySet<Check>
): Simulation => {
  const sim = new Simulation({
    seed: c.seed,
    ...(c.adversary === undefined ? {} : { adversary: c.adversary }),
    ...(unsafeSkipChecks === undefined ? {} : { unsafeSkipChecks })
  })
  sim.start(c.initial)
  onEvent?.(-1, "start", sim)
  c.actions.forEach((action, i) => {
    sim.apply(action)
    onEvent?.(i, action, sim)
  })
  sim.finish()
  onEvent?.(c.actions.length, "finish", sim)
  return sim
}

/** Re-runs a logged case, printing every node's state after each event. */
export const replay = (c: Case, print: (line: string) => void): Simulation =>
  run(c, (i, action, sim) => {
    print(`#${i} ${typeof action === "string" ? action : JSON.stringify(action)}`)
    for (const line of sim.describe()) print(`    ${line}`)
  })
