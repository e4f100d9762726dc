/**
 * How a node learns it was removed from the rack: a peer answers its `GetShare` with
 * `Expunged{config, proof}` — a committed configuration that excludes it and the control plane's commit
 * signature over it. From then on the node persists `expunged` (sticky forever), drops every peer
 * message and refuses control-plane operations; only a factory reset lets it rejoin.
 *
 * Unlike the original, an unproven `Expunged` changes nothing: a certificate holder cannot remove a
 * member; nor does a proven one reach a node that was never in a committed configuration (a genuine
 * verdict relayed by a certificate holder to a node that only prepared an aborted epoch). The configuration's epoch is compared with the latest one the node knows, committed or not: a
 * node told about an older epoch may since have been re-added. Loaded secrets are kept, as in the original.
 */
import { Option } from "effect"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"

/** Handles `Expunged{config, proof}` from `from`; returns why it was ignored, if it was. */
export const receiveExpunged = (
  ctx: NodeCtx,
  roles: Roles,
  from: BaseboardId,
  config: Configuration,
  proof: Uint8Array
): DropReason | undefined => {
  const { policy } = ctx
  if (policy.enforces("ExpungedProof") && !Decision.verifyCommit(policy.authority, config, proof)) {
    return "ExpungedUnauthorized"
  }
  if (policy.enforces("ExpungedExcludes") && config.isMember(ctx.id)) return "ExpungedStillAMember"
  const state = ctx.persistentState
  const latest = PersistentState.latestConfig(state)
  // No configuration at all: the node was presumably factory reset already.
  if (latest === undefined) return "ExpungedWithoutConfigs"
  if (config.epoch < latest.epoch) return "ExpungedForOlderEpoch"
  // Only a node that was in a committed configuration can be removed: one that merely prepared an epoch
  // the control plane later dropped was never added, and may be added yet. A commit proof it holds for
  // an earlier epoch (committed, or being computed) is what shows it was in.
  if (!Array.from(state.proofs.keys()).some((epoch) => epoch < config.epoch)) return "ExpungedNeverAMember"
  ctx.updatePersistentState((s) =>
    PersistentState.update(s, (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch: config.epoch, from }))
    })
  )
  roles.cancelCoordinator()
  roles.cancelComputer()
  return undefined
}
