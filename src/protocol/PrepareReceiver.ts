/**
 * The member side of the prepare phase: a node receiving `Prepare{config, share}` stores its share and
 * the configuration and acknowledges — always, even a duplicate, because the acknowledgement may have
 * been lost.
 *
 * As in the original, the share is not checked against the configuration's digest, the sender is not
 * checked to be the coordinator, and a Prepare older than the latest prepared (but not committed) epoch
 * is still stored: only the latest commit makes a Prepare stale.
 */
import * as Gfss from "../gfss/Gfss.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import { PrepareAck } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"

/** Handles a Prepare from `from`; returns why it was dropped, if it was. */
export const receivePrepare = (
  ctx: NodeCtx,
  roles: Roles,
  from: BaseboardId,
  config: Configuration,
  share: Gfss.Share
): DropReason | undefined => {
  const latestCommitted = PersistentState.latestCommittedEpoch(ctx.persistentState) ?? 0
  if (latestCommitted > config.epoch) return "PrepareForStaleEpoch"
  if (!config.isMember(ctx.id)) return "PrepareNotAMember"
  ctx.updatePersistentState((s) =>
    PersistentState.update(s, (d) => {
      // The share overwrites; an existing configuration is kept (two per epoch cannot happen under valid
      // control-plane behaviour). The share is copied: the message belongs to the caller.
      d.shares.set(config.epoch, Gfss.copyShare(share))
      if (!d.configs.has(config.epoch)) d.configs.set(config.epoch, config)
    })
  )
  if (roles.coordinator !== undefined && roles.coordinator.epoch < config.epoch) roles.cancelCoordinator()
  ctx.send(from, new PrepareAck({ epoch: config.epoch }))
  return undefined
}
