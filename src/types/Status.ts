/**
 * What a node reports about itself: the outcome of a commit, the coordinator's progress, and the
 * node status (connected peers, alarms, persisted epochs, in-flight proxied requests, the network
 * config held).
 */
import { Schema } from "effect"
import { Alarm } from "./Alarm.ts"
import { BaseboardId } from "./BaseboardId.ts"
import { Configuration } from "./Configuration.ts"
import { NetworkConfigSummary } from "./NetworkConfig.ts"
import { NodePersistentStateSummary } from "./PersistentState.ts"

/** `Committed` once the epoch is in the node's commits; `Pending` while it still computes its share. */
export const CommitStatus = Schema.Literals(["Committed", "Pending"])
export type CommitStatus = typeof CommitStatus.Type

/** A coordinator's progress: its configuration and the members whose prepare is durable. */
export class CoordinatorStatus extends Schema.Class<CoordinatorStatus>("CoordinatorStatus")({
  config: Configuration,
  ackedPrepares: Schema.Array(BaseboardId)
}) {}

/** A node's status. */
export class NodeStatus extends Schema.Class<NodeStatus>("NodeStatus")({
  connectedPeers: Schema.Array(BaseboardId),
  alarms: Schema.Array(Alarm),
  persistentState: NodePersistentStateSummary,
  proxiedRequests: Schema.Int,
  /** The network config the node holds (generation, size, digest); absent while it holds none. */
  networkConfig: Schema.optionalKey(NetworkConfigSummary)
}) {}
