/**
 * A configuration: one epoch's membership, threshold, coordinator, share digests and the encrypted
 * chain of prior rack secrets; and `newConfiguration`, which draws a fresh rack secret and splits it.
 *
 * Members are kept in bytewise BaseboardId order: the i-th member (0-based) holds the share at
 * x = i + 1. The secret itself is not returned: a coordinator re-derives it from all N shares.
 */
import { Option, Result, Schema } from "effect"
import { Signature } from "../crypto/AuthorityKey.ts"
import { RackSecret } from "../crypto/RackSecret.ts"
import { shareDigest } from "../crypto/ShareDigest.ts"
import type { Rng } from "../gfss/Rng.ts"
import * as BaseboardIdModule from "./BaseboardId.ts"
import { BaseboardId } from "./BaseboardId.ts"
import { Epoch } from "./Epoch.ts"
import { RackId } from "./RackId.ts"
import { digestEquals, Salt, Sha3Digest, type Share } from "./Share.ts"

/** Prior committed rack secrets, encrypted under a key derived from this configuration's secret. */
export class EncryptedRackSecrets extends Schema.Class<EncryptedRackSecrets>("EncryptedRackSecrets")({
  salt: Salt,
  data: Schema.Uint8Array
}) {}

/**
 * The control plane's signed reconfiguration, embedded by the coordinator: the epoch the control plane
 * built on and its signature over (rack id, epoch, last committed epoch, members, threshold,
 * coordinator). Every receiver of a `Prepare` checks it (see `Decision`), so no certificate holder can
 * plant a configuration the control plane did not decide.
 */
export const Authorization = Schema.Struct({ lastCommittedEpoch: Schema.NullOr(Epoch), signature: Signature })
export type Authorization = typeof Authorization.Type

/** One member of a configuration and the digest of its share. */
export const Member = Schema.Struct({ id: BaseboardId, digest: Sha3Digest })
export type Member = typeof Member.Type

/** At most 255 members (one-byte x-coordinates); the protocol's own bound (3..32) is checked on use. */
const sortedMembers = Schema.Array(Member).check(
  Schema.isMaxLength(255),
  Schema.makeFilter((members: ReadonlyArray<Member>) => {
    for (let i = 1; i < members.length; i++) {
      const prev = members[i - 1]
      const cur = members[i]
      if (prev === undefined || cur === undefined || BaseboardIdModule.order(prev.id, cur.id) >= 0) {
        return "members strictly ascending in bytewise BaseboardId order"
      }
    }
    return true
  })
)

/** The configuration of one epoch. */
export class Configuration extends Schema.Class<Configuration>("Configuration")({
  rackId: RackId,
  epoch: Epoch,
  coordinator: BaseboardId,
  members: sortedMembers,
  threshold: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 255 })),
  encryptedRackSecrets: Schema.OptionFromNullOr(EncryptedRackSecrets),
  authorization: Authorization
}) {
  /** 0-based rank of `id` among the members, or -1. Its share's x-coordinate is rank + 1. */
  indexOf(id: BaseboardId): number {
    return this.members.findIndex((m) => BaseboardIdModule.equals(m.id, id))
  }
  isMember(id: BaseboardId): boolean {
    return this.indexOf(id) >= 0
  }
  /** The share digest recorded for `id`, if it is a member. */
  digestOf(id: BaseboardId): Uint8Array | undefined {
    return this.members.find((m) => BaseboardIdModule.equals(m.id, id))?.digest
  }
  get memberIds(): ReadonlyArray<BaseboardId> {
    return this.members.map((m) => m.id)
  }
}

/** Full equality of two configurations, ciphertext included. */
export const equals = (a: Configuration, b: Configuration): boolean => {
  if (a.rackId !== b.rackId || a.epoch !== b.epoch || a.threshold !== b.threshold) return false
  if (!BaseboardIdModule.equals(a.coordinator, b.coordinator)) return false
  if (a.members.length !== b.members.length) return false
  for (let i = 0; i < a.members.length; i++) {
    const x = a.members[i]
    const y = b.members[i]
    if (x === undefined || y === undefined) return false
    if (!BaseboardIdModule.equals(x.id, y.id) || !digestEquals(x.digest, y.digest)) return false
  }
  if (a.authorization.lastCommittedEpoch !== b.authorization.lastCommittedEpoch) return false
  if (!digestEquals(a.authorization.signature, b.authorization.signature)) return false
  const ea = a.encryptedRackSecrets
  const eb = b.encryptedRackSecrets
  if (ea._tag !== eb._tag) return false
  if (ea._tag === "Some" && eb._tag === "Some") {
    return digestEquals(ea.value.salt, eb.value.salt) && digestEquals(ea.value.data, eb.value.data)
  }
  return true
}

/** Creating a configuration failed: too many members for one-byte x-coordinates, or a bad threshold. */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>()("ConfigurationError", {
  reason: Schema.Literals(["TooManyMembers", "ThresholdTooSmall", "TooFewTotalShares"]),
  members: Schema.Int,
  threshold: Schema.Int
}) {
  override get message(): string {
    const advice = {
      TooManyMembers: `a configuration holds at most 255 members, got ${this.members}; split the rack`,
      ThresholdTooSmall: `threshold ${this.threshold} is below 2; choose a threshold of at least 2`,
      TooFewTotalShares: `threshold ${this.threshold} exceeds the ${this.members} members; lower the threshold`
    }
    return advice[this.reason]
  }
}

/** What `newConfiguration` needs. */
export interface NewConfigurationParams {
  readonly rackId: RackId
  readonly epoch: Epoch
  readonly members: Iterable<BaseboardId>
  readonly threshold: number
  readonly coordinator: BaseboardId
  /** The control plane's signed reconfiguration this configuration carries out. */
  readonly authorization: Authorization
}

/** A new configuration and each member's share, keyed by `BaseboardId.key`. */
export interface NewConfiguration {
  readonly configuration: Configuration
  readonly shares: ReadonlyMap<string, Share>
}

/**
 * Draws a fresh rack secret, splits it among the members (x follows bytewise member order) and records
 * each share's digest. `encryptedRackSecrets` is left empty; the coordinator fills it in.
 */
export const newConfiguration = (
  params: NewConfigurationParams,
  rng?: Rng
): Result.Result<NewConfiguration, ConfigurationError> => {
  const ids = BaseboardIdModule.sortUnique(params.members)
  const fail = (reason: ConfigurationError["reason"]) =>
    Result.fail(new ConfigurationError({ reason, members: ids.length, threshold: params.threshold }))
  if (ids.length > 255) return fail("TooManyMembers")
  const secret = RackSecret.generate(rng)
  const split = secret.split(ids.length, params.threshold, rng)
  secret.dispose()
  if (Result.isFailure(split)) {
    return fail(split.failure._tag === "ThresholdTooSmall" ? "ThresholdTooSmall" : "TooFewTotalShares")
  }
  const shares = new Map<string, Share>()
  const members: Array<Member> = []
  ids.forEach((id, i) => {
    const share = split.success[i]
    if (share === undefined) return
    shares.set(id.key, share)
    members.push({ id, digest: shareDigest(share) })
  })
  const configuration = new Configuration({
    rackId: params.rackId,
    epoch: params.epoch,
    coordinator: params.coordinator,
    members,
    threshold: params.threshold,
    encryptedRackSecrets: Option.none(),
    authorization: params.authorization
  })
  return Result.succeed({ configuration, shares })
}
