/**
 * Encryption of the prior rack secrets that a new configuration carries, so a node stuck at an old
 * epoch can still recover every committed secret of the chain once it unlocks the new epoch.
 *
 * Plaintext: records `epoch u64 BE ‖ secret` in ascending epoch order. Key: HKDF-SHA3-256 with
 * ikm = the new secret, a fresh 32-byte salt, info = "trust-quorum-v1-rack-secrets" ‖ rack id (16
 * bytes) ‖ new epoch u64 BE. Cipher: ChaCha20-Poly1305, all-zero nonce (each key encrypts exactly
 * one plaintext), empty AAD; output ciphertext ‖ 16-byte tag. Keys and plaintexts are zeroed after use.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto"
import { Result, Schema } from "effect"
import { type Rng, system } from "../gfss/Rng.ts"
import { RackSecret, secretLength } from "./RackSecret.ts"

const infoPrefix = new TextEncoder().encode("trust-quorum-v1-rack-secrets")
const recordLength = 8 + secretLength
const tagLength = 16
const nonce = new Uint8Array(12)

/** Decrypting the prior secrets failed: the tag did not verify, or the plaintext is not whole records. */
export class DecryptionError extends Schema.TaggedError<DecryptionError>()("DecryptionError", {
  reason: Schema.Literals(["Aead", "InvalidLength"])
}) {
  override get message(): string {
    return this.reason === "Aead"
      ? "the encrypted prior rack secrets failed authentication: wrong secret or tampered data"
      : "the decrypted prior rack secrets are not a whole number of records"
  }
}

const u64Be = (n: number): Uint8Array => {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false)
  return out
}

/** The 32-byte key for one configuration's encrypted prior secrets. */
export const deriveKey = (secret: RackSecret, salt: Uint8Array, rackId: Uint8Array, epoch: number): Uint8Array => {
  const info = new Uint8Array(infoPrefix.length + 16 + 8)
  info.set(infoPrefix, 0)
  info.set(rackId.subarray(0, 16), infoPrefix.length)
  info.set(u64Be(epoch), infoPrefix.length + 16)
  const key = secret.use((ikm) => new Uint8Array(hkdfSync("sha3-256", ikm, salt, info, 32)))
  let acc = 0
  for (let i = 0; i < key.length; i++) acc |= key[i] ?? 0
  if (acc === 0) throw new Error("HKDF produced an all-zero key")
  return key
}

/** Encrypts the prior secrets under a key derived from the new configuration's secret. */
export const encrypt = (args: {
  readonly secret: RackSecret
  readonly rackId: Uint8Array
  readonly epoch: number
  readonly prior: ReadonlyMap<number, RackSecret>
  readonly rng?: Rng
}): { readonly salt: Uint8Array; readonly data: Uint8Array } => {
  const salt = new Uint8Array(32)
  ;(args.rng ?? system)(salt)
  const epochs = Array.from(args.prior.keys()).sort((a, b) => a - b)
  const plaintext = new Uint8Array(epochs.length * recordLength)
  epochs.forEach((epoch, i) => {
    plaintext.set(u64Be(epoch), i * recordLength)
    args.prior.get(epoch)?.use((bytes) => plaintext.set(bytes, i * recordLength + 8))
  })
  const key = deriveKey(args.secret, salt, args.rackId, args.epoch)
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: tagLength })
  const body = cipher.update(plaintext)
  cipher.final()
  const data = new Uint8Array(body.length + tagLength)
  data.set(body, 0)
  data.set(cipher.getAuthTag(), body.length)
  key.fill(0)
  plaintext.fill(0)
  return { salt, data }
}

/** Decrypts the prior secrets of a configuration with that configuration's secret. */
export const decrypt = (args: {
  readonly secret: RackSecret
  readonly rackId: Uint8Array
  readonly epoch: number
  readonly salt: Uint8Array
  readonly data: Uint8Array
}): Result.Result<ReadonlyMap<number, RackSecret>, DecryptionError> => {
  if (args.data.length < tagLength) return Result.fail(new DecryptionError({ reason: "Aead" }))
  const key = deriveKey(args.secret, args.salt, args.rackId, args.epoch)
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: tagLength })
  decipher.setAuthTag(args.data.subarray(args.data.length - tagLength))
  const body = decipher.update(args.data.subarray(0, args.data.length - tagLength))
  const verified = Result.try(() => decipher.final())
  key.fill(0)
  if (Result.isFailure(verified)) {
    body.fill(0)
    return Result.fail(new DecryptionError({ reason: "Aead" }))
  }
  if (body.length % recordLength !== 0) {
    body.fill(0)
    return Result.fail(new DecryptionError({ reason: "InvalidLength" }))
  }
  const secrets = new Map<number, RackSecret>()
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  for (let off = 0; off < body.length; off += recordLength) {
    const epoch = Number(view.getBigUint64(off, false))
    const secret = RackSecret.fromBytes(body.subarray(off + 8, off + recordLength))
    if (Result.isFailure(secret)) {
      body.fill(0)
      return Result.fail(new DecryptionError({ reason: "InvalidLength" }))
    }
    secrets.set(epoch, secret.success)
  }
  body.fill(0)
  return Result.succeed(secrets)
}
