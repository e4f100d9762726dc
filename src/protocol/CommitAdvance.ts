/**
 * Committing a configuration this node may have missed: the control plane's PrepareAndCommit (`from` =
 * "Nexus") and a peer's CommitAdvance (`from` = the peer) share this logic. Both carry the control
 * plane's commit signature over the configuration: `Validation` checks the control plane's, and
 * `receiveCommitAdvance` a peer's, before anything is stored; the proof is persisted with the
 * configuration so this node can pass it on.
 *
 * A node that prepared the epoch commits at once. Otherwise it persists the configuration and starts a
 * key-share computer, which commits once it has rebuilt the share. A different configuration prepared
 * here for that epoch is replaced (raising `MismatchedConfigurations`): the proof names the one that was
 * decided. A coordination of that or an older epoch ends here; a newer one continues. A computer for the
 * same epoch is kept, so a repeated request is a no-op.
 */
import type { Signature } from "../crypto/AuthorityKey.ts"
import { MismatchedConfigurations } from "../types/Alarm.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as Configuration from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import * as PersistentState from "../types/PersistentState.ts"
import { KeyShareComputer } from "./KeyShareComputer.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Roles } from "./Roles.ts"
import { withinBounds } from "./Validation.ts"

/** A peer's `CommitAdvance`: applied only when its configuration is within bounds and its proof verifies. */
export const receiveCommitAdvance = (
  ctx: NodeCtx,
  roles: Roles,
  from: BaseboardId,
  config: Configuration.Configuration,
  proof: Signature
): DropReason | undefined => {
  const { policy } = ctx
  if (policy.enforces("Bounds") && !withinBounds(config)) return "CommitAdvanceOutOfBounds"
  if (policy.enforces("CommitAdvanceProof") && !Decision.verifyCommit(policy.authority, config, proof)) {
    return "CommitAdvanceUnauthorized"
  }
  return advanceCommit(ctx, roles, from.toString(), config, proof)
}

/** Applies a commit of `config` (whose `proof` was checked) told by `from`; returns why it was ignored, if it was. */
export const advanceCommit = (
  ctx: NodeCtx,
  roles: Roles,
  from: string,
  config: Configuration.Configuration,
  proof: Signature
): DropReason | undefined => {
  const state = ctx.persistentState
  if (!config.isMember(ctx.id)) return "CommitAdvanceNotAMember"
  const latest = PersistentState.latestCommittedEpoch(state)
  if (latest !== undefined && latest >= config.epoch) return "CommitAdvanceStale"
  const existing = state.configs.get(config.epoch)
  const mismatched = existing !== undefined && !Configuration.equals(existing, config)
  // A different configuration stored for this epoch and never proven here (no commit proof: it was only
  // prepared), while the control plane signed the commit of another: its coordinator equivocated (it
  // alone can, since the reconfiguration signature does not cover shares). The signed commit wins —
  // otherwise one member could keep another from ever committing the epoch — so the prepared
  // configuration and its share are replaced and the share of the real one is computed from peers. Two
  // different proven configurations for one epoch keep the first, as before. Either way the alarm stays.
  const replaced = mismatched && !state.proofs.has(config.epoch)
  if (mismatched) ctx.raiseAlarm(new MismatchedConfigurations({ config1: existing, config2: config, from }))
  if (mismatched && !replaced) return "CommitAdvanceMismatchedConfiguration"
  const justCommitted = !replaced && PersistentState.hasPrepared(state, config.epoch)
  // The proof is kept with the configuration: a node that must compute its share commits later, and a
  // commit never exists without its proof.
  if (justCommitted || existing === undefined || replaced || !state.proofs.has(config.epoch)) {
    ctx.updatePersistentState((s) =>
      PersistentState.update(s, (d) => {
        if (existing === undefined || replaced) d.configs.set(config.epoch, config)
        if (replaced) d.shares.delete(config.epoch)
        d.proofs.set(config.epoch, proof)
        if (justCommitted) d.commits.add(config.epoch)
      })
    )
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
