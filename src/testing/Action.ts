/**
 * The fast-check generators of the cluster simulation's actions (`Case.ts` holds the data they draw),
 * with the weights of the original's property test (minus the legacy upgrade path).
 *
 * Selectors are natural numbers taken modulo the candidate list at the time the action runs, so any
 * generated sequence is meaningful in any state, and a recorded sequence replays exactly. The
 * adversary's actions (`Forge`, `Replay`) are only generated for a case with an adversary profile.
 */
import * as fc from "fast-check"
import { type Action, type AdversaryProfile, type Case, forgeries, type InitialConfig } from "./Case.ts"

export * from "./Case.ts"

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

/**
 * The adversary's actions: a forgery of every kind, and replays. Together they weigh about a fifth of
 * the honest actions, so the honest control plane still reconfigures and commits in most cases.
 */
export const adversaryAction: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 18,
    arbitrary: fc
      .record({ forgery: fc.constantFrom(...forgeries), sel, variant: sel, to: sel })
      .map((r): Action => ({ _tag: "Forge", ...r }))
  },
  { weight: 6, arbitrary: fc.tuple(sel, sel).map(([s, to]): Action => ({ _tag: "Replay", sel: s, to })) }
)

export const initialConfig: fc.Arbitrary<InitialConfig> = fc.record({
  members: fc.integer({ min: 3, max: 8 }),
  threshold: sel,
  coordinator: sel
})

export const testCase = (minActions = 300, maxActions = 2000): fc.Arbitrary<Case> =>
  fc.record({
    seed: fc.integer(),
    initial: initialConfig,
    actions: fc.array(action, { minLength: minActions, maxLength: maxActions })
  })

/** A case with a Byzantine node of `profile` that forges and replays among the honest actions. */
export const adversaryCase = (profile: AdversaryProfile, minActions = 300, maxActions = 2000): fc.Arbitrary<Case> =>
  fc.record({
    seed: fc.integer(),
    initial: initialConfig,
    adversary: fc.constant(profile),
    actions: fc.array(fc.oneof({ weight: 100, arbitrary: action }, { weight: 24, arbitrary: adversaryAction }), {
      minLength: minActions,
      maxLength: maxActions
    })
  })
