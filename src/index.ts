/**
 * effect-trust-quorum: the public entry point. Each module is re-exported as a namespace: the pure
 * core here, the runtime, HTTP API and control plane from their own entry points (also importable
 * alone as `effect-trust-quorum/runtime`, `/api`, `/control`). Test support lives apart, in
 * `effect-trust-quorum/testing`, the one entry point that needs `fast-check`.
 */

export * from "./api/index.ts"
export * from "./control/index.ts"
export * as AuthorityKey from "./crypto/AuthorityKey.ts"
export * as PriorSecrets from "./crypto/PriorSecrets.ts"
export * as RackSecret from "./crypto/RackSecret.ts"
export * as ShareDigest from "./crypto/ShareDigest.ts"
export * as Gf256 from "./gfss/Gf256.ts"
export * as Gfss from "./gfss/Gfss.ts"
export * as Rng from "./gfss/Rng.ts"
export * as NetworkConfigRules from "./protocol/NetworkConfig.ts"
export * as Node from "./protocol/Node.ts"
export * as NodeCtx from "./protocol/NodeCtx.ts"
export * as Policy from "./protocol/Policy.ts"
export * as Validation from "./protocol/Validation.ts"
export * from "./runtime/index.ts"
export * as Alarm from "./types/Alarm.ts"
export * as BaseboardId from "./types/BaseboardId.ts"
export * as Configuration from "./types/Configuration.ts"
export * as Decision from "./types/Decision.ts"
export * as Epoch from "./types/Epoch.ts"
export * as NetworkConfig from "./types/NetworkConfig.ts"
export * as PeerMsg from "./types/PeerMsg.ts"
export * as PersistentState from "./types/PersistentState.ts"
export * as ProtocolError from "./types/ProtocolError.ts"
export * as RackId from "./types/RackId.ts"
export * as Request from "./types/Request.ts"
export * as Share from "./types/Share.ts"
export * as Status from "./types/Status.ts"
