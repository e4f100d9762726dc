/**
 * The member side of the prepare phase: a node receiving `Prepare{config, share}` stores its share and
 * the configuration and acknowledges — a duplicate too, because the acknowledgement may have been lost.
 *
 * Unlike the original, which trusts every attested peer, a Prepare must prove itself (see `Policy`): it
 * arrives over a link authenticated as the configuration's coordinator, carries the control plane's
 * signed reconfiguration, is within bounds, is for an epoch above the latest commit (so a committed
 * share is never overwritten), equals any configuration already stored for its epoch, and its share is
 * the receiver's own (x = rank + 1, matching the recorded digest). A Prepare older than the latest
 * prepared but uncommitted epoch is still stored, as in the original: only a commit makes it stale.
 */
import * as Gfss from "../gfss/Gfss.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import * as Configuration from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import { PrepareAck } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"
import { isOwnShare, withinBounds } from "./Validation.ts"

/** Why a Prepare may not be stored, if it may not; the checks in the order they are applied. */
const refusal = (
  ctx: NodeCtx,
  from: BaseboardId.BaseboardId,
  config: Configuration.Configuration,
  share: Gfss.Share
): DropReason | undefined => {
  const { policy } = ctx
  const state = ctx.persistentState
  if (policy.enforces("PrepareSender") && !BaseboardId.equals(from, config.coordinator)) {
    return "PrepareNotFromCoordinator"
  }
  if (policy.enforces("Bounds") && !withinBounds(config)) return "PrepareOutOfBounds"
  if (policy.enforces("PrepareSignature") && !Decision.verifyReconfiguration(policy.authority, config)) {
    return "PrepareUnauthorized"
  }
  const latestCommitted = PersistentState.latestCommittedEpoch(state) ?? 0
  const stale = policy.enforces("PrepareEpoch") ? latestCommitted >= config.epoch : latestCommitted > config.epoch
  if (stale) return "PrepareForStaleEpoch"
  if (!config.isMember(ctx.id)) return "PrepareNotAMember"
  const existing = state.configs.get(config.epoch)
  if (policy.enforces("PrepareConfiguration") && existing !== undefined && !Configuration.equals(existing, config)) {
    return "PrepareConfigurationMismatch"
  }
  if (policy.enforces("PrepareShare") && !isOwnShare(config, ctx.id, share)) return "PrepareShareMismatch"
  return undefined
}

/** Handles a Prepare from `from`; returns why it was dropped, if it was. */
export const receivePrepare = (
  ctx: NodeCtx,
  roles: Roles,
  from: BaseboardId.BaseboardId,
  config: Configuration.Configuration,
  share: Gfss.Share
): DropReason | undefined => {
  const refused = refusal(ctx, from, config, share)
  if (refused !== undefined) return refused
  ctx.updatePersistentState((s) =>
    PersistentState.update(s, (d) => {
      // The share is copied: the message belongs to the caller. After the checks above it can only be
      // the share already stored, if any; the configuration is insert-only.
      d.shares.set(config.epoch, Gfss.copyShare(share))
      if (!d.configs.has(config.epoch)) d.configs.set(config.epoch, config)
    })
  )
  if (roles.coordinator !== undefined && roles.coordinator.epoch < config.epoch) roles.cancelCoordinator()
  ctx.send(from, new PrepareAck({ epoch: config.epoch }))
  return undefined
}
