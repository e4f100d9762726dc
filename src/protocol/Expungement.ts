/**
 * How a node learns it was removed from the rack: a peer answers its `GetShare` with `Expunged(epoch)`.
 * From then on the node persists `expunged` (sticky forever), drops every peer message and refuses
 * control-plane operations; only a factory reset lets it rejoin.
 *
 * The epoch is compared with the latest configuration the node knows, committed or not: a node told
 * about an older epoch may since have been re-added. Loaded secrets are kept, as in the original.
 */
import { Option } from "effect"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"

/** Handles `Expunged(epoch)` from `from`; returns why it was ignored, if it was. */
export const receiveExpunged = (
  ctx: NodeCtx,
  roles: Roles,
  from: BaseboardId,
  epoch: Epoch
): DropReason | undefined => {
  const latest = PersistentState.latestConfig(ctx.persistentState)
  // No configuration at all: the node was presumably factory reset already.
  if (latest === undefined) return "ExpungedWithoutConfigs"
  if (epoch < latest.epoch) return "ExpungedForOlderEpoch"
  ctx.updatePersistentState((s) =>
    PersistentState.update(s, (d) => {
      d.expunged = Option.some(new PersistentState.ExpungedMetadata({ epoch, from }))
    })
  )
  roles.cancelCoordinator()
  roles.cancelComputer()
  return undefined
}
