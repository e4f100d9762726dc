/**
 * The protocol's admission rules as pure functions of the persistent state: which control-plane
 * requests (reconfigure, commit, prepare-and-commit) a node accepts, checked in the order that decides
 * which error wins, and whether a received share may be used for a configuration.
 *
 * Keeping them apart from the node makes every rule testable on a hand-built state, and keeps the order
 * — the part of the contract callers observe — in one place.
 */
import { Option, Result } from "effect"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Share } from "../gfss/Gfss.ts"
import * as BaseboardId from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import * as Decision from "../types/Decision.ts"
import { type Epoch, maxEpoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  type CommitError,
  CoordinatorMustBeAMemberOfNewGroup,
  DecommissionedSled,
  Expunged,
  InvalidMembershipSize,
  InvalidRackId,
  InvalidThreshold,
  LastCommittedEpochMismatch,
  MismatchedReconfigurationForSameEpoch,
  NotAMember,
  NotAuthorized,
  NotPrepared,
  type PrepareAndCommitError,
  PreparedEpochMismatch,
  type ReconfigurationError,
  ReconfigurationInProgress,
  Superseded,
  ThresholdMismatch
} from "../types/ProtocolError.ts"
import type { RackId } from "../types/RackId.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import { digestEquals } from "../types/Share.ts"
import type { Policy } from "./Policy.ts"

/**
 * Bounds of a configuration: 3..32 members (fewer cannot tolerate a failure; more than a rack holds),
 * thresholds 2..31 (one share alone would be the secret) and always below the member count.
 */
export const minMembers = 3
export const maxMembers = 32
export const minThreshold = 2
export const maxThreshold = 31

/** Whether a received configuration is within the protocol's bounds (members, threshold, epoch). */
export const withinBounds = (config: Configuration): boolean => {
  const n = config.members.length
  return (
    n >= minMembers &&
    n <= maxMembers &&
    config.threshold >= minThreshold &&
    config.threshold <= maxThreshold &&
    config.threshold < n &&
    config.epoch >= 1 &&
    config.epoch < maxEpoch
  )
}

/** Whether `share` is `id`'s share of `config`: x is its rank + 1, 32 y bytes, and the recorded digest matches. */
export const isOwnShare = (config: Configuration, id: BaseboardId.BaseboardId, share: Share): boolean => {
  const digest = config.digestOf(id)
  return (
    digest !== undefined &&
    share.x === config.indexOf(id) + 1 &&
    share.y.length === 32 &&
    digestEquals(shareDigest(share), digest)
  )
}

/** A control-plane commit of `config` is authorized: within bounds and signed (`CommitProof`). */
const authorizeCommit = (
  policy: Policy,
  config: Configuration,
  proof: Uint8Array
): Result.Result<void, NotAuthorized> => {
  const refuse = (reason: "Signature" | "Bounds") =>
    Result.fail(new NotAuthorized({ decision: "Commit", epoch: config.epoch, reason }))
  if (policy.enforces("Bounds") && !withinBounds(config)) return refuse("Bounds")
  if (policy.enforces("CommitProof") && !Decision.verifyCommit(policy.authority, config, proof)) {
    return refuse("Signature")
  }
  return Result.void
}

/** Whether two reconfiguration requests ask for the same thing (member order and duplicates do not matter). */
export const sameReconfiguration = (a: ReconfigureMsg, b: ReconfigureMsg): boolean => {
  const ma = BaseboardId.sortUnique(a.members)
  const mb = BaseboardId.sortUnique(b.members)
  return (
    a.rackId === b.rackId &&
    a.epoch === b.epoch &&
    a.lastCommittedEpoch === b.lastCommittedEpoch &&
    a.threshold === b.threshold &&
    ma.length === mb.length &&
    ma.every((id, i) => {
      const other = mb[i]
      return other !== undefined && BaseboardId.equals(id, other)
    })
  )
}

const expungedFields = (state: PersistentState.PersistentState) =>
  Option.map(state.expunged, (e) => ({ epoch: e.epoch, from: e.from.toString() }))

const rackIdMismatch = (state: PersistentState.PersistentState, got: RackId): InvalidRackId | undefined => {
  const known = PersistentState.rackId(state)
  return known !== undefined && known !== got ? new InvalidRackId({ expected: known, got }) : undefined
}

/**
 * Validates a reconfiguration request at its would-be coordinator `self`, in the original's order:
 * membership of the coordinator, sizes, rack id, expunged, last committed epoch, newer epoch, then the
 * coordination already in progress (`coordinating`, if any). After the sizes comes the control plane's
 * signature, which must name `self` as the coordinator (`NotAuthorized`). `Idempotent` means the very
 * same request is being coordinated (still collecting shares) and nothing should change.
 */
export const validateReconfiguration = (
  self: BaseboardId.BaseboardId,
  policy: Policy,
  state: PersistentState.PersistentState,
  msg: ReconfigureMsg,
  coordinating: ReconfigureMsg | undefined
): Result.Result<"Proceed" | "Idempotent", ReconfigurationError> => {
  const members = BaseboardId.sortUnique(msg.members)
  if (!members.some((m) => BaseboardId.equals(m, self))) return Result.fail(new CoordinatorMustBeAMemberOfNewGroup({}))
  const n = members.length
  if (n <= msg.threshold) return Result.fail(new ThresholdMismatch({ numMembers: n, threshold: msg.threshold }))
  if (n < minMembers || n > maxMembers) return Result.fail(new InvalidMembershipSize({ size: n }))
  if (msg.threshold < minThreshold || msg.threshold > maxThreshold) {
    return Result.fail(new InvalidThreshold({ threshold: msg.threshold }))
  }
  if (msg.epoch < 1 || msg.epoch >= maxEpoch) {
    return Result.fail(new NotAuthorized({ decision: "Reconfiguration", epoch: msg.epoch, reason: "Bounds" }))
  }
  const signed = Decision.reconfigurationStatement({ ...msg, members, coordinator: self })
  if (!policy.authority.verify(signed, msg.signature)) {
    return Result.fail(new NotAuthorized({ decision: "Reconfiguration", epoch: msg.epoch, reason: "Signature" }))
  }
  const wrongRack = rackIdMismatch(state, msg.rackId)
  if (wrongRack !== undefined) return Result.fail(wrongRack)
  const lastCommitted = PersistentState.latestCommittedEpoch(state) ?? null
  const expunged = expungedFields(state)
  if (Option.isSome(expunged)) {
    return Result.fail(new DecommissionedSled({ ...expunged.value, lastCommittedEpoch: lastCommitted }))
  }
  if (msg.lastCommittedEpoch !== lastCommitted) {
    return Result.fail(new LastCommittedEpochMismatch({ nodeEpoch: lastCommitted, msgEpoch: msg.lastCommittedEpoch }))
  }
  const latest = PersistentState.latestConfig(state)
  if (latest !== undefined && msg.epoch <= latest.epoch) {
    return Result.fail(new PreparedEpochMismatch({ existing: latest.epoch, requested: msg.epoch }))
  }
  if (coordinating !== undefined) {
    if (coordinating.epoch > msg.epoch) {
      return Result.fail(new ReconfigurationInProgress({ currentEpoch: coordinating.epoch, msgEpoch: msg.epoch }))
    }
    if (coordinating.epoch === msg.epoch) {
      return sameReconfiguration(coordinating, msg)
        ? Result.succeed("Idempotent")
        : Result.fail(new MismatchedReconfigurationForSameEpoch({ epoch: msg.epoch }))
    }
  }
  return Result.succeed("Proceed")
}

/**
 * Validates a control-plane Commit of `epoch` with its `proof`: expunged, rack id, then already
 * committed (a duplicate is `AlreadyCommitted`; an older epoch that was never committed here is
 * `Superseded`), then prepared, then the proof — the control plane's commit signature over the
 * configuration this node stored for `epoch` (`NotAuthorized`), checked before anything is answered
 * `Committed`.
 */
export const validateCommit = (
  policy: Policy,
  state: PersistentState.PersistentState,
  rackId: RackId,
  epoch: Epoch,
  proof: Uint8Array
): Result.Result<"Commit" | "AlreadyCommitted", CommitError> => {
  const expunged = expungedFields(state)
  if (Option.isSome(expunged)) return Result.fail(new Expunged(expunged.value))
  const wrongRack = rackIdMismatch(state, rackId)
  if (wrongRack !== undefined) return Result.fail(wrongRack)
  const latest = PersistentState.latestCommittedEpoch(state)
  const committed = state.commits.has(epoch)
  if (latest !== undefined && latest >= epoch && !committed) {
    return Result.fail(new Superseded({ epoch, latestCommitted: latest }))
  }
  const config = state.configs.get(epoch)
  if (config === undefined || !PersistentState.hasPrepared(state, epoch)) return Result.fail(new NotPrepared({ epoch }))
  const authorized = authorizeCommit(policy, config, proof)
  if (Result.isFailure(authorized)) return Result.fail(authorized.failure)
  return Result.succeed(committed ? "AlreadyCommitted" : "Commit")
}

/**
 * Validates a control-plane PrepareAndCommit of `config` with its `proof` at `self`: expunged, rack id,
 * the proof (bounds and the commit signature over exactly `config`, `NotAuthorized`), membership
 * (`NotAMember`), already committed, then `Superseded` when a newer epoch is committed here.
 */
export const validatePrepareAndCommit = (
  self: BaseboardId.BaseboardId,
  policy: Policy,
  state: PersistentState.PersistentState,
  config: Configuration,
  proof: Uint8Array
): Result.Result<"Proceed" | "AlreadyCommitted", PrepareAndCommitError> => {
  const expunged = expungedFields(state)
  if (Option.isSome(expunged)) return Result.fail(new Expunged(expunged.value))
  const wrongRack = rackIdMismatch(state, config.rackId)
  if (wrongRack !== undefined) return Result.fail(wrongRack)
  const authorized = authorizeCommit(policy, config, proof)
  if (Result.isFailure(authorized)) return Result.fail(authorized.failure)
  if (!config.isMember(self)) return Result.fail(new NotAMember({ epoch: config.epoch }))
  if (state.commits.has(config.epoch)) return Result.succeed("AlreadyCommitted")
  const latest = PersistentState.latestCommittedEpoch(state)
  if (latest !== undefined && latest > config.epoch) {
    return Result.fail(new Superseded({ epoch: config.epoch, latestCommitted: latest }))
  }
  return Result.succeed("Proceed")
}

/** Why a received share may not be used for a configuration. */
export type ShareRejection = "ShareWrongEpoch" | "ShareNotAMember" | "ShareDigestMismatch"

/**
 * A share received from `from` for `epoch` is usable for `config` iff the epoch matches, the sender is a
 * member, and the share's SHA3-256 digest is the one the configuration records for that member. This is
 * the real guard: combining a wrong share does not fail, it silently yields a wrong secret.
 */
export const validateShare = (
  config: Configuration,
  from: BaseboardId.BaseboardId,
  epoch: Epoch,
  share: Share
): Result.Result<void, ShareRejection> => {
  if (epoch !== config.epoch) return Result.fail("ShareWrongEpoch")
  const digest = config.digestOf(from)
  if (digest === undefined) return Result.fail("ShareNotAMember")
  if (!digestEquals(shareDigest(share), digest)) return Result.fail("ShareDigestMismatch")
  return Result.void
}

/** `validateShare` as a predicate. */
export const isValidShare = (
  config: Configuration,
  from: BaseboardId.BaseboardId,
  epoch: Epoch,
  share: Share
): boolean => Result.isSuccess(validateShare(config, from, epoch, share))

/**
 * What a share collector (coordinator, key-share computer or rack-secret loader) did with a share:
 * counted it, or why not.
 */
export type ShareOutcome = "Collected" | "ShareDuplicate" | "ShareNotCollecting" | ShareRejection
