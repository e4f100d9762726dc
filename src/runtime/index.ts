/**
 * The node runtime (`effect-trust-quorum/runtime`): the `TrustQuorumNode` service and what it is built
 * from — transports, links, the connection manager, the node task, the proxy and the ledger.
 */

export * as ConnectionManager from "./ConnectionManager.ts"
export * as Frame from "./Frame.ts"
export * as Ledger from "./Ledger.ts"
export * as Link from "./Link.ts"
export * as NetworkConfigReplica from "./NetworkConfigReplica.ts"
export * as NodeTask from "./NodeTask.ts"
export * as ProxyOperation from "./ProxyOperation.ts"
export * as ProxyTracker from "./ProxyTracker.ts"
export * as RackPki from "./RackPki.ts"
export * as RateLimitedLog from "./RateLimitedLog.ts"
export * as RuntimeError from "./RuntimeError.ts"
export * as Transport from "./Transport.ts"
export * as TrustQuorumNode from "./TrustQuorumNode.ts"
export * as Wire from "./Wire.ts"
