/**
 * The control plane's requests to a node: reconfigure (to the chosen coordinator), commit, and
 * prepare-and-commit (to a member that missed the prepare).
 */
import { Schema } from "effect"
import { BaseboardId } from "./BaseboardId.ts"
import { Configuration } from "./Configuration.ts"
import { Epoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"

/** Start a reconfiguration at `epoch`; the receiving node coordinates it. */
export class ReconfigureMsg extends Schema.Class<ReconfigureMsg>("ReconfigureMsg")({
  rackId: RackId,
  epoch: Epoch,
  lastCommittedEpoch: Schema.NullOr(Epoch),
  members: Schema.Array(BaseboardId),
  threshold: Schema.Int
}) {}

/** Commit `epoch` at a member that acknowledged its prepare. */
export class CommitRequest extends Schema.Class<CommitRequest>("CommitRequest")({
  rackId: RackId,
  epoch: Epoch
}) {}

/** Commit `config` at a member that may have missed its prepare; it rebuilds its share from K peers. */
export class PrepareAndCommitRequest extends Schema.Class<PrepareAndCommitRequest>("PrepareAndCommitRequest")({
  config: Configuration
}) {}
