/**
 * The typed errors of the protocol's operations: reconfigure, commit, prepare-and-commit and
 * load-rack-secret.
 *
 * Every error is a serialisable `Schema.TaggedError` whose message says what happened and what the
 * caller (the control plane) should do. Union schemas per operation are exported so the proxy and
 * the HTTP API can decode an operation's error channel exactly.
 */
import { Schema } from "effect"
import { Alarm } from "./Alarm.ts"
import { ConfigurationError } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"

const EpochOrNull = Schema.NullOr(Epoch)
const show = (e: number | null): string => (e === null ? "none" : String(e))

/** The coordinator of a reconfiguration must be a member of the new configuration. */
export class CoordinatorMustBeAMemberOfNewGroup extends Schema.TaggedError<CoordinatorMustBeAMemberOfNewGroup>()(
  "CoordinatorMustBeAMemberOfNewGroup",
  {}
) {
  override get message(): string {
    return "the coordinator must be a member of the new configuration; send the reconfiguration to a member"
  }
}

/** The threshold must be smaller than the number of members. */
export class ThresholdMismatch extends Schema.TaggedError<ThresholdMismatch>()("ThresholdMismatch", {
  numMembers: Schema.Int,
  threshold: Schema.Int
}) {
  override get message(): string {
    return `threshold ${this.threshold} must be below the member count ${this.numMembers}`
  }
}

/** A configuration has 3..32 members. */
export class InvalidMembershipSize extends Schema.TaggedError<InvalidMembershipSize>()("InvalidMembershipSize", {
  size: Schema.Int
}) {
  override get message(): string {
    return `a configuration needs 3 to 32 members, got ${this.size}`
  }
}

/** A threshold is 2..31. */
export class InvalidThreshold extends Schema.TaggedError<InvalidThreshold>()("InvalidThreshold", {
  threshold: Schema.Int
}) {
  override get message(): string {
    return `the threshold must be between 2 and 31, got ${this.threshold}`
  }
}

/** The request names another rack than the one this node belongs to. */
export class InvalidRackId extends Schema.TaggedError<InvalidRackId>()("InvalidRackId", {
  expected: Schema.String,
  got: Schema.String
}) {
  override get message(): string {
    return `this node belongs to rack ${this.expected}, the request names rack ${this.got}`
  }
}

/** The node was removed from the rack (expunged); only a factory reset lets it rejoin. */
export class DecommissionedSled extends Schema.TaggedError<DecommissionedSled>()("DecommissionedSled", {
  epoch: Epoch,
  from: Schema.String,
  lastCommittedEpoch: EpochOrNull
}) {
  override get message(): string {
    return `this sled was expunged at epoch ${this.epoch} (told by ${this.from}); it must be factory reset to rejoin`
  }
}

/** The request's idea of the last committed epoch differs from the node's. */
export class LastCommittedEpochMismatch extends Schema.TaggedError<LastCommittedEpochMismatch>()(
  "LastCommittedEpochMismatch",
  { nodeEpoch: EpochOrNull, msgEpoch: EpochOrNull }
) {
  override get message(): string {
    return `the node's last committed epoch is ${show(this.nodeEpoch)}, the request assumed ${show(this.msgEpoch)}; refresh and retry`
  }
}

/** The node already knows a configuration at or after the requested epoch. */
export class PreparedEpochMismatch extends Schema.TaggedError<PreparedEpochMismatch>()("PreparedEpochMismatch", {
  existing: Epoch,
  requested: Epoch
}) {
  override get message(): string {
    return `the node already has a configuration at epoch ${this.existing}; epoch ${this.requested} must be newer (a retry of an accepted reconfiguration also lands here: treat it as in progress)`
  }
}

/** The node is coordinating a newer reconfiguration. */
export class ReconfigurationInProgress extends Schema.TaggedError<ReconfigurationInProgress>()(
  "ReconfigurationInProgress",
  { currentEpoch: Epoch, msgEpoch: Epoch }
) {
  override get message(): string {
    return `the node is coordinating epoch ${this.currentEpoch}, newer than the requested ${this.msgEpoch}`
  }
}

/** A different reconfiguration was already started for the same epoch. */
export class MismatchedReconfigurationForSameEpoch extends Schema.TaggedError<MismatchedReconfigurationForSameEpoch>()(
  "MismatchedReconfigurationForSameEpoch",
  { epoch: Epoch }
) {
  override get message(): string {
    return `a different reconfiguration for epoch ${this.epoch} is in progress; use a new epoch`
  }
}

/** The node has not prepared the epoch it is asked to commit. */
export class NotPrepared extends Schema.TaggedError<NotPrepared>()("NotPrepared", { epoch: Epoch }) {
  override get message(): string {
    return `the node has not prepared epoch ${this.epoch}; send PrepareAndCommit instead`
  }
}

/** The node was expunged; it refuses every control-plane operation. */
export class Expunged extends Schema.TaggedError<Expunged>()("Expunged", { epoch: Epoch, from: Schema.String }) {
  override get message(): string {
    return `the node was expunged at epoch ${this.epoch} (told by ${this.from}) and refuses the request`
  }
}

/** PrepareAndCommit was sent to a node that is not a member of the configuration. */
export class NotAMember extends Schema.TaggedError<NotAMember>()("NotAMember", { epoch: Epoch }) {
  override get message(): string {
    return `the node is not a member of the configuration at epoch ${this.epoch}; do not retry`
  }
}

/** The node already committed a newer epoch than the one requested; the request can never complete. */
export class Superseded extends Schema.TaggedError<Superseded>()("Superseded", {
  epoch: Epoch,
  latestCommitted: Epoch
}) {
  override get message(): string {
    return `the node already committed epoch ${this.latestCommitted}, newer than ${this.epoch}; the request is obsolete`
  }
}

/**
 * A control-plane request whose signature does not verify against the node's pinned authority key, or
 * whose configuration is outside the protocol's bounds. Nothing was changed.
 */
export class NotAuthorized extends Schema.TaggedError<NotAuthorized>()("NotAuthorized", {
  decision: Schema.Literals(["Reconfiguration", "Commit"]),
  epoch: Epoch,
  reason: Schema.Literals(["Signature", "Bounds"])
}) {
  override get message(): string {
    const what = this.decision === "Reconfiguration" ? "reconfiguration" : "commit"
    return this.reason === "Signature"
      ? `the ${what} of epoch ${this.epoch} is not signed by this node's authority key; sign it with the control plane's key, and check the node pins the matching authority.pub`
      : `the ${what} of epoch ${this.epoch} is outside the protocol's bounds (3..32 members, threshold 2..31 and below the member count); nothing was changed`
  }
}

/** Nothing has been committed on this node yet. */
export class NoCommittedConfigurations extends Schema.TaggedError<NoCommittedConfigurations>()(
  "NoCommittedConfigurations",
  {}
) {
  override get message(): string {
    return "the node has no committed configuration yet; wait for the first commit"
  }
}

/** The requested epoch is not committed on this node. */
export class NotCommitted extends Schema.TaggedError<NotCommitted>()("NotCommitted", { epoch: Epoch }) {
  override get message(): string {
    return `epoch ${this.epoch} is not committed on this node`
  }
}

/** The requested epoch's secret is not in the committed chain (for example, the epoch was aborted). */
export class NotAvailable extends Schema.TaggedError<NotAvailable>()("NotAvailable", { epoch: Epoch }) {
  override get message(): string {
    return `the secret of epoch ${this.epoch} is not available: it is not in the committed chain`
  }
}

/** Loading raised a protocol alarm: an invariant that should be impossible was violated. */
export class AlarmRaised extends Schema.TaggedError<AlarmRaised>()("Alarm", { alarm: Alarm }) {
  override get message(): string {
    return `a protocol alarm was raised: ${this.alarm._tag}; inspect the node's status`
  }
}

export const ReconfigurationError = Schema.Union([
  CoordinatorMustBeAMemberOfNewGroup,
  ThresholdMismatch,
  InvalidMembershipSize,
  InvalidThreshold,
  InvalidRackId,
  DecommissionedSled,
  LastCommittedEpochMismatch,
  PreparedEpochMismatch,
  ReconfigurationInProgress,
  MismatchedReconfigurationForSameEpoch,
  ConfigurationError,
  NotAuthorized
])
export type ReconfigurationError = typeof ReconfigurationError.Type

export const CommitError = Schema.Union([InvalidRackId, NotPrepared, Expunged, Superseded, NotAuthorized])
export type CommitError = typeof CommitError.Type

export const PrepareAndCommitError = Schema.Union([InvalidRackId, Expunged, NotAMember, Superseded, NotAuthorized])
export type PrepareAndCommitError = typeof PrepareAndCommitError.Type

export const LoadRackSecretError = Schema.Union([NoCommittedConfigurations, NotCommitted, NotAvailable, AlarmRaised])
export type LoadRackSecretError = typeof LoadRackSecretError.Type
