/**
 * The vocabulary of the cluster simulation, as plain serialisable data: its actions, the adversary's
 * forgeries and profiles, a case (seed, first configuration, actions) and how a selector is read.
 * Everything that runs or replays a case needs only this; the generators that draw cases live in
 * `Action.ts`, the one module that needs `fast-check`.
 */

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

/** The first configuration of a run. */
export interface InitialConfig {
  readonly members: number
  readonly threshold: number
  readonly coordinator: number
}

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
