/**
 * Committing a configuration this node may have missed: the control plane's PrepareAndCommit (`from` =
 * "Nexus") and a peer's CommitAdvance (`from` = the peer) share this logic.
 *
 * A node that prepared the epoch commits at once. Otherwise it persists the configuration (raising
 * `MismatchedConfigurations` if it holds a different one for that epoch) and starts a key-share computer,
 * which commits once it has rebuilt the share. A coordination of that or an older epoch ends here; a
 * newer one continues. A computer for the same epoch is kept, so a repeated request is a no-op.
 */
import { MismatchedConfigurations } from "../types/Alarm.ts"
import * as Configuration from "../types/Configuration.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { KeyShareComputer } from "./KeyShareComputer.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"

/** Applies a commit of `config` told by `from`; returns why it was ignored, if it was. */
export const advanceCommit = (
  ctx: NodeCtx,
  roles: Roles,
  from: string,
  config: Configuration.Configuration
): DropReason | undefined => {
  const state = ctx.persistentState
  if (!config.isMember(ctx.id)) return "CommitAdvanceNotAMember"
  const latest = PersistentState.latestCommittedEpoch(state)
  if (latest !== undefined && latest >= config.epoch) return "CommitAdvanceStale"
  let justCommitted = false
  if (PersistentState.hasPrepared(state, config.epoch)) {
    ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.commits.add(config.epoch)))
    justCommitted = true
  } else {
    const existing = state.configs.get(config.epoch)
    if (existing !== undefined && !Configuration.equals(existing, config)) {
      ctx.raiseAlarm(new MismatchedConfigurations({ config1: existing, config2: config, from }))
      return "CommitAdvanceMismatchedConfiguration"
    }
    if (existing === undefined) {
      ctx.updatePersistentState((s) => PersistentState.update(s, (d) => d.configs.set(config.epoch, config)))
    }
  }
  // The node just committed or will compute its share; a later control-plane Commit is then a no-op.
  if (roles.coordinator !== undefined && roles.coordinator.epoch <= config.epoch) roles.cancelCoordinator()
  const computer = roles.computer
  if (computer !== undefined) {
    if (computer.epoch > config.epoch) return undefined
    if (computer.epoch === config.epoch) {
      if (justCommitted) roles.cancelComputer()
      return undefined
    }
    roles.cancelComputer()
  }
  if (!justCommitted) roles.computer = KeyShareComputer.start(ctx, config)
  return undefined
}
