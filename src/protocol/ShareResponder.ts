/**
 * How a node answers a peer's `GetShare(epoch)`: with `Expunged` when the requester is no longer a
 * member, with `CommitAdvance` when the requester is behind, with its `Share`, or with silence.
 *
 * `Expunged` and `CommitAdvance` carry the committed configuration and its commit signature, which the
 * requester verifies, so a node only says them where it holds that proof (every commit has one).
 * Silence is deliberate: there is no "no such share" reply, and the requester relies on other members
 * or a later reconnection. A share is served even if the epoch is only prepared here, not committed:
 * others may already have committed it and need to unlock while the control plane is unreachable. A
 * requester that is not a member of the epoch it asks for never receives a share.
 */
import * as Gfss from "../gfss/Gfss.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import { CommitAdvance, ExpungedReply, type PeerMsgKind, ShareReply } from "../types/PeerMsg.ts"
import * as PersistentState from "../types/PersistentState.ts"

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

/** The reply to `GetShare(epoch)` from `from`, or undefined for silence. */
export const answerGetShare = (
  state: PersistentState.PersistentState,
  from: BaseboardId,
  epoch: Epoch
): PeerMsgKind | undefined => {
  const committed = PersistentState.latestCommittedConfig(state)
  if (committed !== undefined && committed.epoch > epoch) return verdict(state, committed, from)
  // Requesters only ask for epochs they believe committed: not being a member of one means removal.
  const config = state.configs.get(epoch)
  if (config === undefined) return undefined
  if (!config.isMember(from)) return verdict(state, config, from)
  const share = state.shares.get(epoch)
  // A copy: the envelope may be zeroed after sending without touching the persisted share.
  return share === undefined ? undefined : new ShareReply({ epoch, share: Gfss.copyShare(share) })
}
