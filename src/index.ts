/**
 * effect-trust-quorum: the public entry point. Each module is re-exported as a namespace.
 */

export * as PriorSecrets from "./crypto/PriorSecrets.ts"
export * as RackSecret from "./crypto/RackSecret.ts"
export * as ShareDigest from "./crypto/ShareDigest.ts"
export * as Gf256 from "./gfss/Gf256.ts"
export * as Gfss from "./gfss/Gfss.ts"
export * as Rng from "./gfss/Rng.ts"
export * as SeededRng from "./testing/SeededRng.ts"
export * as Alarm from "./types/Alarm.ts"
export * as BaseboardId from "./types/BaseboardId.ts"
export * as Configuration from "./types/Configuration.ts"
export * as Epoch from "./types/Epoch.ts"
export * as PeerMsg from "./types/PeerMsg.ts"
export * as PersistentState from "./types/PersistentState.ts"
export * as ProtocolError from "./types/ProtocolError.ts"
export * as RackId from "./types/RackId.ts"
export * as Request from "./types/Request.ts"
export * as Share from "./types/Share.ts"
export * as Status from "./types/Status.ts"
