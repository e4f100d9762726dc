/**
 * The control plane's signed decisions and their canonical byte encodings. A node accepts a
 * configuration, a commit or an expungement only with a signature by the pinned authority key over one
 * of these statements; a certificate alone proves who a peer is, never what was decided.
 *
 * Encodings (all integers big-endian; an id is `u16 len ‖ UTF-8 part ‖ u16 len ‖ UTF-8 serial`; an
 * optional epoch is `0x00`, or `0x01 ‖ u64`):
 *
 *   reconfiguration = "trust-quorum-v1 reconfigure" ‖ 0x00 ‖ rack id (16 bytes) ‖ epoch u64
 *                     ‖ last committed epoch (optional) ‖ threshold u8 ‖ coordinator id
 *                     ‖ member count u16 ‖ member ids (bytewise order, no duplicates)
 *   commit          = "trust-quorum-v1 commit" ‖ 0x00 ‖ rack id ‖ epoch u64 ‖ configuration digest (32 bytes)
 *   configuration digest = SHA3-256("trust-quorum-v1 configuration" ‖ 0x00 ‖ rack id ‖ epoch u64
 *                     ‖ coordinator id ‖ threshold u8 ‖ member count u16 ‖ (member id ‖ share digest)*
 *                     ‖ encrypted secrets (0x00, or 0x01 ‖ salt (32) ‖ u32 len ‖ data)
 *                     ‖ last committed epoch (optional) ‖ reconfiguration signature (64))
 *
 * The domain prefixes keep a signature of one kind from ever verifying as the other. The commit
 * statement covers the exact configuration — share digests, encrypted prior secrets and the signed
 * reconfiguration included — so a commit proof names one configuration and nothing else.
 */
import { createHash } from "node:crypto"
import { Option } from "effect"
import type { PublicKey, Signature, SigningKey } from "../crypto/AuthorityKey.ts"
import * as BaseboardId from "./BaseboardId.ts"
import type { Configuration } from "./Configuration.ts"
import { type Epoch, toU64Be } from "./Epoch.ts"
import * as RackId from "./RackId.ts"
import { ReconfigureMsg } from "./Request.ts"

/** What a reconfiguration decides: everything the coordinator may not choose. */
export interface Reconfiguration {
  readonly rackId: RackId.RackId
  readonly epoch: Epoch
  readonly lastCommittedEpoch: Epoch | null
  readonly members: Iterable<BaseboardId.BaseboardId>
  readonly threshold: number
  readonly coordinator: BaseboardId.BaseboardId
}

const utf8 = new TextEncoder()

/** Appends canonical fields to a growing byte list. */
class Writer {
  readonly #parts: Array<Uint8Array> = []
  #length = 0

  bytes(b: Uint8Array): this {
    this.#parts.push(b)
    this.#length += b.length
    return this
  }
  u8(n: number): this {
    return this.bytes(Uint8Array.of(n & 0xff))
  }
  u16(n: number): this {
    return this.bytes(Uint8Array.of((n >>> 8) & 0xff, n & 0xff))
  }
  u32(n: number): this {
    return this.bytes(Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff))
  }
  text(s: string): this {
    const b = utf8.encode(s)
    return this.u16(b.length).bytes(b)
  }
  domain(name: string): this {
    return this.bytes(utf8.encode(name)).u8(0)
  }
  epoch(e: Epoch): this {
    return this.bytes(toU64Be(e))
  }
  optionalEpoch(e: Epoch | null): this {
    return e === null ? this.u8(0) : this.u8(1).epoch(e)
  }
  id(id: BaseboardId.BaseboardId): this {
    return this.text(id.partNumber).text(id.serialNumber)
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.#length)
    let offset = 0
    for (const part of this.#parts) {
      out.set(part, offset)
      offset += part.length
    }
    return out
  }
}

/** The signed bytes of a reconfiguration. */
export const reconfigurationStatement = (r: Reconfiguration): Uint8Array => {
  const members = BaseboardId.sortUnique(r.members)
  const w = new Writer()
    .domain("trust-quorum-v1 reconfigure")
    .bytes(RackId.toBytes(r.rackId))
    .epoch(r.epoch)
    .optionalEpoch(r.lastCommittedEpoch)
    .u8(r.threshold)
    .id(r.coordinator)
    .u16(members.length)
  for (const m of members) w.id(m)
  return w.done()
}

/** SHA3-256 of a configuration's canonical encoding: what a commit signs. */
export const configurationDigest = (c: Configuration): Uint8Array => {
  const w = new Writer()
    .domain("trust-quorum-v1 configuration")
    .bytes(RackId.toBytes(c.rackId))
    .epoch(c.epoch)
    .id(c.coordinator)
    .u8(c.threshold)
    .u16(c.members.length)
  for (const m of c.members) w.id(m.id).bytes(m.digest)
  if (Option.isSome(c.encryptedRackSecrets)) {
    const e = c.encryptedRackSecrets.value
    w.u8(1).bytes(e.salt).u32(e.data.length).bytes(e.data)
  } else {
    w.u8(0)
  }
  w.optionalEpoch(c.authorization.lastCommittedEpoch).bytes(c.authorization.signature)
  return new Uint8Array(createHash("sha3-256").update(w.done()).digest())
}

/** The signed bytes of a commit of `c`. */
export const commitStatement = (c: Configuration): Uint8Array =>
  new Writer()
    .domain("trust-quorum-v1 commit")
    .bytes(RackId.toBytes(c.rackId))
    .epoch(c.epoch)
    .bytes(configurationDigest(c))
    .done()

/** The control plane signs a reconfiguration (it names the coordinator it sends it to). */
export const signReconfiguration = (key: SigningKey, r: Reconfiguration): Signature =>
  key.sign(reconfigurationStatement(r))

/** The control plane signs the commit of exactly `c`, after K+Z prepare acknowledgements. */
export const signCommit = (key: SigningKey, c: Configuration): Signature => key.sign(commitStatement(c))

/** Whether `c` carries the control plane's signed reconfiguration for its own fields. */
export const verifyReconfiguration = (key: PublicKey, c: Configuration): boolean =>
  key.verify(
    reconfigurationStatement({
      rackId: c.rackId,
      epoch: c.epoch,
      lastCommittedEpoch: c.authorization.lastCommittedEpoch,
      members: c.memberIds,
      threshold: c.threshold,
      coordinator: c.coordinator
    }),
    c.authorization.signature
  )

/** Whether `signature` is the control plane's commit of exactly `c`. */
export const verifyCommit = (key: PublicKey, c: Configuration, signature: Uint8Array): boolean =>
  key.verify(commitStatement(c), signature)

/** A reconfiguration request for `coordinator`, signed by the control plane. */
export const reconfigureMsg = (key: SigningKey, r: Reconfiguration): ReconfigureMsg =>
  new ReconfigureMsg({
    rackId: r.rackId,
    epoch: r.epoch,
    lastCommittedEpoch: r.lastCommittedEpoch,
    members: BaseboardId.sortUnique(r.members),
    threshold: r.threshold,
    signature: signReconfiguration(key, r)
  })
