/**
 * The network config: one opaque, generation-numbered blob (the early-networking configuration a sled
 * needs before the rack unlocks, e.g. for NTP) that every node carries and gossips to its peers, and the
 * typed errors of updating it.
 *
 * A config is only ever accepted with the control plane's signature over (rack id, generation,
 * SHA3-256 of the blob) — `Decision.signNetworkConfig` — so a rack-certificate holder cannot push one.
 * Generations strictly increase: an update at or below the current generation is `StaleNetworkConfig`
 * (equal too, as in the original, so re-running rack setup over uncleaned disks shows instead of
 * silently doing nothing).
 */
import { createHash } from "node:crypto"
import { Schema } from "effect"
import { maxEpoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"

/**
 * The largest blob, in bytes: 256 KiB. The real early-networking config (uplinks, BGP peers, NTP and
 * DNS servers) is a few KiB, so this leaves two orders of magnitude of headroom, while the frame that
 * carries it (base64 grows it by 4/3, ≈ 342 KiB) stays far below the 1 MiB frame limit both ends of a
 * link enforce, and a rebroadcast to 31 peers queues at most ≈ 10 MiB. A node refuses anything larger
 * from a peer or from its API, so no one can make every node store and forward megabytes.
 */
export const maxBlobBytes = 256 * 1024

/** A network-config generation: 1..2^40 (the original's u64, bounded like epochs so `+ 1` stays exact). */
export const Generation = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxEpoch }))
export type Generation = typeof Generation.Type

/**
 * A signed network config. `signature` is the control plane's Ed25519 signature of
 * `Decision.networkConfigStatement`; it is carried as plain bytes (empty = unsigned) so that a push
 * without a valid one is refused and logged with its reason rather than failing to decode.
 */
export class NetworkConfig extends Schema.Class<NetworkConfig>("NetworkConfig")({
  rackId: RackId,
  generation: Generation,
  blob: Schema.Uint8Array,
  signature: Schema.Uint8Array.check(Schema.isMaxLength(64))
}) {}

/** SHA3-256 of a blob: what the control plane's signature covers. */
export const blobDigest = (blob: Uint8Array): Uint8Array => new Uint8Array(createHash("sha3-256").update(blob).digest())

/** What status reports of the config a node holds: never the blob, only its generation, size and digest. */
export const NetworkConfigSummary = Schema.Struct({
  generation: Generation,
  bytes: Schema.Int,
  /** The first 8 bytes of the blob's SHA3-256, in hex: enough to tell two blobs apart. */
  digest: Schema.String
})
export type NetworkConfigSummary = typeof NetworkConfigSummary.Type

export const summary = (config: NetworkConfig): NetworkConfigSummary => ({
  generation: config.generation,
  bytes: config.blob.length,
  digest: Buffer.from(blobDigest(config.blob).subarray(0, 8)).toString("hex")
})

/** An update whose generation is not above the node's current one (equal is stale too). */
export class StaleNetworkConfig extends Schema.TaggedError<StaleNetworkConfig>()("StaleNetworkConfig", {
  attemptedGeneration: Generation,
  currentGeneration: Generation
}) {
  override get message(): string {
    return this.attemptedGeneration === this.currentGeneration
      ? `the node already holds network config generation ${this.currentGeneration}; a new config needs a higher generation (re-running setup over uncleaned disks shows up here)`
      : `network config generation ${this.attemptedGeneration} is older than the node's generation ${this.currentGeneration}; send a generation above ${this.currentGeneration}`
  }
}

/** A blob above `maxBlobBytes`. */
export class NetworkConfigTooLarge extends Schema.TaggedError<NetworkConfigTooLarge>()("NetworkConfigTooLarge", {
  bytes: Schema.Int,
  limit: Schema.Int
}) {
  override get message(): string {
    return `the network config blob is ${this.bytes} bytes, above the limit of ${this.limit}; trim the config`
  }
}

/** A config without the control plane's valid signature over its rack id, generation and blob digest. */
export class NetworkConfigNotAuthorized extends Schema.TaggedError<NetworkConfigNotAuthorized>()(
  "NetworkConfigNotAuthorized",
  { generation: Generation, reason: Schema.Literals(["Unsigned", "Signature"]) }
) {
  override get message(): string {
    return this.reason === "Unsigned"
      ? `network config generation ${this.generation} carries no signature; sign it with the control plane's authority key (\`tq network-config set --authority-key\`)`
      : `network config generation ${this.generation} is not signed by this node's authority key; sign it with the control plane's key, and check the node pins the matching authority.pub`
  }
}

/** A config signed for another rack than the one this node belongs to. */
export class NetworkConfigWrongRack extends Schema.TaggedError<NetworkConfigWrongRack>()("NetworkConfigWrongRack", {
  expected: RackId,
  got: RackId
}) {
  override get message(): string {
    return `this node belongs to rack ${this.expected}, the network config is for rack ${this.got}; sign it for rack ${this.expected}`
  }
}

/** Every way an update can be refused. */
export const UpdateNetworkConfigError = Schema.Union([
  StaleNetworkConfig,
  NetworkConfigTooLarge,
  NetworkConfigNotAuthorized,
  NetworkConfigWrongRack
])
export type UpdateNetworkConfigError = typeof UpdateNetworkConfigError.Type
