/**
 * The actions of the cluster simulation, as plain serialisable data, and their fast-check generators
 * with the weights of the original's property test (minus the legacy upgrade path).
 *
 * Selectors are natural numbers taken modulo the candidate list at the time the action runs, so any
 * generated sequence is meaningful in any state, and a recorded sequence replays exactly. The
 * adversary's actions (`Forge`, `Replay`) are only generated for a case with an adversary profile.
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
  /** The adversary sends (or calls, for a proxied request) one forgery to the honest node `to`. */
  | {
      readonly _tag: "Forge"
      readonly forgery: Forgery
      readonly sel: number
      readonly variant: number
      readonly to: number
    }
  /** The adversary re-sends the `sel`-th genuine message it ever received to the node `to`. */
  | { readonly _tag: "Replay"; readonly sel: number; readonly to: number }

/**
 * What the adversary forges (see `Adversary`): `sel` picks the configuration (or epoch) it builds on
 * from what it knows, `variant` the flavour of the forgery (which proof, which bound to break).
 */
export const forgeries = [
  "PlantedPrepare",
  "ReauthorizedPrepare",
  "BogusSharePrepare",
  "BogusShare",
  "ProxiedCommit",
  "ProxiedPrepareAndCommit",
  "CommitAdvance",
  "Expunged",
  "GetShare",
  "Oversized"
] as const
export type Forgery = (typeof forgeries)[number]

/** Who the Byzantine node is: never a member, a member the control plane removes, or a current member. */
export const adversaryProfiles = ["Outsider", "Removed", "Member"] as const
export type AdversaryProfile = (typeof adversaryProfiles)[number]

/** The `sel`-th candidate, modulo the list: how every selector of an action is read. */
export const pick = <A>(items: ReadonlyArray<A>, sel: number): A | undefined =>
  items.length === 0 ? undefined : items[sel % items.length]

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

/**
 * A whole test case: a seed for the nodes' randomness, the first configuration, the adversary's
 * profile (none: every node is honest), and the actions.
 */
export interface Case {
  readonly seed: number
  readonly initial: InitialConfig
  readonly adversary?: AdversaryProfile
  readonly actions: ReadonlyArray<Action>
}

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
