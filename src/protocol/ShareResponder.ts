/**
 * Both sides of `GetShare`: how a node asks a member for its share of a committed epoch (showing that
 * epoch's commit proof), and how it answers: with `Expunged` when the requester is no longer a member,
 * with `CommitAdvance` when the requester is behind, with its `Share`, or with silence.
 *
 * `Expunged` and `CommitAdvance` carry the committed configuration and its commit signature, which the
 * requester verifies, so a node only says them where it holds that proof (every commit has one).
 * Silence is deliberate: there is no "no such share" reply, and the requester relies on other members
 * or a later reconnection. A share is served even if the epoch is only prepared here, not committed:
 * others may already have committed it and need to unlock while the control plane is unreachable — but
 * only against the requester's proof that it was committed (the control plane's commit signature over
 * the configuration stored here), so an epoch that was aborted never hands out its shares. A requester
 * that is not a member of the epoch it asks for never receives a share.
 */
import * as Gfss from "../gfss/Gfss.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import type { Epoch } from "../types/Epoch.ts"
import { CommitAdvance, ExpungedReply, GetShare, type PeerMsgKind, ShareReply } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"
import type { DropReason, NodeCtx } from "./NodeCtx.ts"
import type { Policy } from "./Policy.ts"

/** Asks `peer` for its share of `epoch`, with the commit proof this node holds for it (none: nothing is sent). */
export const askForShare = (ctx: NodeCtx, peer: BaseboardId, epoch: Epoch): void => {
  const proof = ctx.persistentState.proofs.get(epoch)
  if (proof !== undefined) ctx.send(peer, new GetShare({ epoch, proof }))
}

/** `config` committed here with its proof, as a message that tells `from` where it stands. */
const verdict = (
  state: PersistentState.PersistentState,
  config: Configuration,
  from: BaseboardId
): PeerMsgKind | undefined => {
  const proof = state.proofs.get(config.epoch)
  if (proof === undefined || !state.commits.has(config.epoch)) return undefined
  return config.isMember(from) ? new CommitAdvance({ config, proof }) : new ExpungedReply({ config, proof })
}

/** The reply to `GetShare(epoch, proof)` from `from`, or why it gets silence. */
export const answerGetShare = (
  policy: Policy,
  state: PersistentState.PersistentState,
  from: BaseboardId,
  epoch: Epoch,
  proof: Uint8Array
): PeerMsgKind | DropReason => {
  const committed = PersistentState.latestCommittedConfig(state)
  if (committed !== undefined && committed.epoch > epoch)
    return verdict(state, committed, from) ?? "GetShareUnknownEpoch"
  // Requesters only ask for epochs they believe committed: not being a member of one means removal.
  const config = state.configs.get(epoch)
  if (config === undefined) return "GetShareUnknownEpoch"
  if (!config.isMember(from)) return verdict(state, config, from) ?? "GetShareUnknownEpoch"
  const proven =
    state.commits.has(epoch) ||
    !policy.enforces("GetShareProof") ||
    Decision.verifyCommit(policy.authority, config, proof)
  if (!proven) return "GetShareUnproven"
  const share = state.shares.get(epoch)
  // A copy: the envelope may be zeroed after sending without touching the persisted share.
  return share === undefined ? "GetShareUnknownEpoch" : new ShareReply({ epoch, share: Gfss.copyShare(share) })
}
