/**
 * The actions of the cluster simulation, as plain serialisable data, and their fast-check generators
 * with the weights of the original's property test (minus the legacy upgrade path).
 *
 * Selectors are natural numbers taken modulo the candidate list at the time the action runs, so any
 * generated sequence is meaningful in any state, and a recorded sequence replays exactly.
 */
import * as fc from "fast-check"

export type Action =
  | { readonly _tag: "Deliver"; readonly sel: number }
  | { readonly _tag: "LoadLatestRackSecret"; readonly sel: number }
  | { readonly _tag: "LoadRackSecret"; readonly config: number; readonly id: number }
  | { readonly _tag: "ClearSecrets"; readonly sel: number }
  | { readonly _tag: "PollPrepareAcks" }
  | { readonly _tag: "Commit"; readonly sel: number }
  | { readonly _tag: "DeliverNexusReply" }
  | {
      readonly _tag: "Reconfigure"
      readonly numAdded: number
      readonly removed: ReadonlyArray<number>
      readonly threshold: number
      readonly coordinator: number
    }
  | { readonly _tag: "Crash"; readonly sel: number }
  | { readonly _tag: "Restart"; readonly sel: number; readonly order: number }

const sel = fc.nat({ max: 1 << 20 })

/** One action, weighted as in the original: mostly deliveries, rarely reconfigurations and crashes. */
export const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 30, arbitrary: sel.map((s): Action => ({ _tag: "Deliver", sel: s })) },
  { weight: 5, arbitrary: sel.map((s): Action => ({ _tag: "LoadLatestRackSecret", sel: s })) },
  {
    weight: 5,
    arbitrary: fc.tuple(sel, sel).map(([config, id]): Action => ({ _tag: "LoadRackSecret", config, id }))
  },
  { weight: 2, arbitrary: sel.map((s): Action => ({ _tag: "ClearSecrets", sel: s })) },
  { weight: 10, arbitrary: fc.constant<Action>({ _tag: "PollPrepareAcks" }) },
  { weight: 10, arbitrary: sel.map((s): Action => ({ _tag: "Commit", sel: s })) },
  { weight: 10, arbitrary: fc.constant<Action>({ _tag: "DeliverNexusReply" }) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        numAdded: fc.integer({ min: 0, max: 5 }),
        removed: fc.array(sel, { maxLength: 3 }),
        threshold: sel,
        coordinator: sel
      })
      .map((r): Action => ({ _tag: "Reconfigure", ...r }))
  },
  { weight: 2, arbitrary: sel.map((s): Action => ({ _tag: "Crash", sel: s })) },
  { weight: 2, arbitrary: fc.tuple(sel, sel).map(([s, order]): Action => ({ _tag: "Restart", sel: s, order })) }
)

/** The first configuration of a run. */
export interface InitialConfig {
  readonly members: number
  readonly threshold: number
  readonly coordinator: number
}

export const initialConfig: fc.Arbitrary<InitialConfig> = fc.record({
  members: fc.integer({ min: 3, max: 8 }),
  threshold: sel,
  coordinator: sel
})

/** A whole test case: a seed for the nodes' randomness, the first configuration, and the actions. */
export interface Case {
  readonly seed: number
  readonly initial: InitialConfig
  readonly actions: ReadonlyArray<Action>
}

export const testCase = (minActions = 300, maxActions = 2000): fc.Arbitrary<Case> =>
  fc.record({
    seed: fc.integer(),
    initial: initialConfig,
    actions: fc.array(action, { minLength: minActions, maxLength: maxActions })
  })
