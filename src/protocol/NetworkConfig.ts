/**
 * The rules of network-config replication, pure: what a node does with an update from its API and with
 * a config pushed by a peer, given the config it holds, the pinned authority key and the rack it belongs
 * to. The runtime persists what these functions accept before anyone hears of it.
 *
 * Checks, in order: the blob is at most `maxBlobBytes` (cheapest first, so an oversize push costs no
 * signature check); it carries the control plane's signature over (rack id, generation, blob digest);
 * it is for this node's rack — the rack of any configuration the node stores, else the rack of the
 * config it already holds, so a node that knows no rack yet (a new sled) pins the rack of the first
 * config it adopts; and its generation is above the current one. Gossip is epidemic and unacknowledged:
 * a higher generation is adopted and passed on, a lower or equal one is ignored. A peer pushing an older
 * generation is routine (it is behind, and gets ours on the same link), so only what no honest peer
 * sends — no or a bad signature, another rack, an oversize blob, or a second blob under one generation
 * — is a refusal worth a warning.
 */
import { Result } from "effect"
import type { PublicKey } from "../crypto/AuthorityKey.ts"
import type { BaseboardId } from "../types/BaseboardId.ts"
import { verifyNetworkConfig } from "../types/Decision.ts"
import {
  blobDigest,
  maxBlobBytes,
  type NetworkConfig,
  NetworkConfigNotAuthorized,
  NetworkConfigTooLarge,
  NetworkConfigWrongRack,
  StaleNetworkConfig,
  type UpdateNetworkConfigError
} from "../types/NetworkConfig.ts"
import type { RackId } from "../types/RackId.ts"

/** What the rules consult besides the current config. */
export interface Context {
  /** The control plane's pinned public key. */
  readonly authority: PublicKey
  /** The rack of the configurations the node stores, if it stores any. */
  readonly rackId: RackId | undefined
}

/** The rack a config must be for: the node's own, else the one of the config it holds, else any. */
export const expectedRack = (current: NetworkConfig | undefined, context: Context): RackId | undefined =>
  context.rackId ?? current?.rackId

/** The checks every config passes, wherever it comes from: size, signature, rack. */
export const authorize = (
  current: NetworkConfig | undefined,
  config: NetworkConfig,
  context: Context
): Result.Result<NetworkConfig, NetworkConfigTooLarge | NetworkConfigNotAuthorized | NetworkConfigWrongRack> => {
  if (config.blob.length > maxBlobBytes) {
    return Result.fail(new NetworkConfigTooLarge({ bytes: config.blob.length, limit: maxBlobBytes }))
  }
  if (config.signature.length === 0) {
    return Result.fail(new NetworkConfigNotAuthorized({ generation: config.generation, reason: "Unsigned" }))
  }
  if (!verifyNetworkConfig(context.authority, config)) {
    return Result.fail(new NetworkConfigNotAuthorized({ generation: config.generation, reason: "Signature" }))
  }
  const rack = expectedRack(current, context)
  if (rack !== undefined && rack !== config.rackId) {
    return Result.fail(new NetworkConfigWrongRack({ expected: rack, got: config.rackId }))
  }
  return Result.succeed(config)
}

/**
 * An update from the node's API: the config to persist and broadcast, or why not. A generation equal to
 * the current one is stale too (as in the original), even with the same blob.
 */
export const update = (
  current: NetworkConfig | undefined,
  proposed: NetworkConfig,
  context: Context
): Result.Result<NetworkConfig, UpdateNetworkConfigError> =>
  Result.flatMap(authorize(current, proposed, context), (config) =>
    current !== undefined && config.generation <= current.generation
      ? Result.fail(
          new StaleNetworkConfig({
            attemptedGeneration: config.generation,
            currentGeneration: current.generation
          })
        )
      : Result.succeed(config)
  )

/** Why a pushed config was refused: what an honest peer never sends. Logged as a warning. */
export type RefusalReason =
  | "NetworkConfigTooLarge"
  | "NetworkConfigUnsigned"
  | "NetworkConfigBadSignature"
  | "NetworkConfigWrongRack"
  | "NetworkConfigConflict"

/** What to do with a config a peer pushed. */
export type Receipt =
  /** A higher generation, authorized: persist it, then pass it on to every peer but the sender. */
  | { readonly _tag: "Adopt"; readonly config: NetworkConfig }
  /** Routine: the sender is behind (`Stale`) or holds what we hold (`Current`). */
  | { readonly _tag: "Ignore"; readonly reason: "Stale" | "Current" }
  | { readonly _tag: "Refuse"; readonly reason: RefusalReason; readonly detail: string }

/** A config pushed by peer `from`. */
export const receive = (
  current: NetworkConfig | undefined,
  from: BaseboardId,
  pushed: NetworkConfig,
  context: Context
): Receipt => {
  const authorized = authorize(current, pushed, context)
  if (Result.isFailure(authorized)) {
    const e = authorized.failure
    const reason: RefusalReason =
      e._tag === "NetworkConfigTooLarge"
        ? "NetworkConfigTooLarge"
        : e._tag === "NetworkConfigWrongRack"
          ? "NetworkConfigWrongRack"
          : e.reason === "Unsigned"
            ? "NetworkConfigUnsigned"
            : "NetworkConfigBadSignature"
    return { _tag: "Refuse", reason, detail: `${from.toString()} pushed a network config: ${e.message}` }
  }
  if (current === undefined || pushed.generation > current.generation) return { _tag: "Adopt", config: pushed }
  if (pushed.generation < current.generation) return { _tag: "Ignore", reason: "Stale" }
  if (sameBytes(blobDigest(pushed.blob), blobDigest(current.blob))) return { _tag: "Ignore", reason: "Current" }
  return {
    _tag: "Refuse",
    reason: "NetworkConfigConflict",
    detail: `${from.toString()} pushed a different blob under network config generation ${pushed.generation}, which this node already holds; kept ours — the control plane signed two configs for one generation`
  }
}

/**
 * A config loaded from the node's ledger at start: kept if it still verifies against the pinned key
 * (a replaced authority key drops it; peers supply the current one), with the reason if not.
 */
export const restore = (
  loaded: NetworkConfig,
  context: Context
): Result.Result<NetworkConfig, NetworkConfigTooLarge | NetworkConfigNotAuthorized | NetworkConfigWrongRack> =>
  authorize(undefined, loaded, context)

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])
