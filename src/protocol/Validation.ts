/**
 * Validation rules of the protocol: the checks a reconfiguration request passes, in the order that
 * decides which error wins, and the check every received share passes before it is used.
 */
import { Option, Result } from "effect"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Share } from "../gfss/Gfss.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import * as BaseboardIdModule from "../types/BaseboardId.ts"
import type { Configuration } from "../types/Configuration.ts"
import type { Epoch } from "../types/Epoch.ts"
import * as PersistentState from "../types/PersistentState.ts"
import {
  CoordinatorMustBeAMemberOfNewGroup,
  DecommissionedSled,
  InvalidMembershipSize,
  InvalidRackId,
  InvalidThreshold,
  LastCommittedEpochMismatch,
  MismatchedReconfigurationForSameEpoch,
  PreparedEpochMismatch,
  type ReconfigurationError,
  ReconfigurationInProgress,
  ThresholdMismatch
} from "../types/ProtocolError.ts"
import type { ReconfigureMsg } from "../types/Request.ts"
import { digestEquals } from "../types/Share.ts"

/** Members of a configuration: 3..32. Thresholds: 2..31 and below the member count. */
export const minMembers = 3
export const maxMembers = 32
export const minThreshold = 2
export const maxThreshold = 31

/** Whether two reconfiguration requests ask for the same thing. */
export const sameReconfiguration = (a: ReconfigureMsg, b: ReconfigureMsg): boolean => {
  const ma = BaseboardIdModule.sortUnique(a.members)
  const mb = BaseboardIdModule.sortUnique(b.members)
  return (
    a.rackId === b.rackId &&
    a.epoch === b.epoch &&
    a.lastCommittedEpoch === b.lastCommittedEpoch &&
    a.threshold === b.threshold &&
    ma.length === mb.length &&
    ma.every((id, i) => {
      const other = mb[i]
      return other !== undefined && BaseboardIdModule.equals(id, other)
    })
  )
}

/**
 * Validates a reconfiguration request at its would-be coordinator (`self`), in the original's order:
 * membership and sizes, rack id, expunged, last committed epoch, newer epoch, coordination in progress.
 * `Idempotent` means the same request is already being coordinated and nothing should change.
 */
export const validateReconfiguration = (
  self: BaseboardId,
  state: PersistentState.PersistentState,
  msg: ReconfigureMsg,
  coordinating: ReconfigureMsg | undefined
): Result.Result<"Proceed" | "Idempotent", ReconfigurationError> => {
  const members = BaseboardIdModule.sortUnique(msg.members)
  if (!members.some((m) => BaseboardIdModule.equals(m, self))) {
    return Result.fail(new CoordinatorMustBeAMemberOfNewGroup({}))
  }
  const n = members.length
  if (n <= msg.threshold) return Result.fail(new ThresholdMismatch({ numMembers: n, threshold: msg.threshold }))
  if (n < minMembers || n > maxMembers) return Result.fail(new InvalidMembershipSize({ size: n }))
  if (msg.threshold < minThreshold || msg.threshold > maxThreshold) {
    return Result.fail(new InvalidThreshold({ threshold: msg.threshold }))
  }
  const rackId = PersistentState.rackId(state)
  if (rackId !== undefined && rackId !== msg.rackId) {
    return Result.fail(new InvalidRackId({ expected: rackId, got: msg.rackId }))
  }
  const lastCommitted = PersistentState.latestCommittedEpoch(state) ?? null
  if (Option.isSome(state.expunged)) {
    return Result.fail(
      new DecommissionedSled({
        epoch: state.expunged.value.epoch,
        from: state.expunged.value.from.toString(),
        lastCommittedEpoch: lastCommitted
      })
    )
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
 * A share received from `from` for `epoch` is usable for `config` iff the epoch matches, the sender is
 * a member, and the share's SHA3-256 digest is the one the configuration records for that member.
 */
export const isValidShare = (config: Configuration, from: BaseboardId, epoch: Epoch, share: Share): boolean => {
  if (epoch !== config.epoch) return false
  const digest = config.digestOf(from)
  return digest !== undefined && digestEquals(shareDigest(share), digest)
}
