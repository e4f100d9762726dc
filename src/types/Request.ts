/**
 * The control plane's requests to a node: reconfigure (to the chosen coordinator), commit, and
 * prepare-and-commit (to a member that missed the prepare). Each carries the control plane's signature
 * (see `Decision`): a node acts on none of them without it, wherever the request came from (its API, or
 * a peer's proxy).
 */
import { Schema } from "effect"
import { Signature } from "../crypto/AuthorityKey.ts"
import { BaseboardId } from "./BaseboardId.ts"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"

/** Start a reconfiguration at `epoch`; the receiving node coordinates it. */
export class ReconfigureMsg extends Schema.Class<ReconfigureMsg>("ReconfigureMsg")({
  rackId: RackId,
  epoch: Epoch,
  lastCommittedEpoch: Schema.NullOr(Epoch),
  members: Schema.Array(BaseboardId).check(Schema.isMaxLength(255)),
  threshold: Schema.Int,
  /** The control plane's signature of this reconfiguration with the receiving node as coordinator. */
  signature: Signature
}) {}

/** Commit `epoch` at a member that acknowledged its prepare. */
export class CommitRequest extends Schema.Class<CommitRequest>("CommitRequest")({
  rackId: RackId,
  epoch: Epoch,
  /** The control plane's commit signature over the configuration of `epoch` (`Decision.signCommit`). */
  proof: Signature
}) {}

/** Commit `config` at a member that may have missed its prepare; it rebuilds its share from K peers. */
export class PrepareAndCommitRequest extends Schema.Class<PrepareAndCommitRequest>("PrepareAndCommitRequest")({
  config: Configuration,
  /** The control plane's commit signature over `config` (`Decision.signCommit`). */
  proof: Signature
}) {}
