/**
 * The control plane's authority key: an Ed25519 key pair whose private half signs the decisions of the
 * control plane (reconfigurations and commits) and whose public half every node pins beside the rack CA.
 *
 * A rack certificate proves *who* a peer is; only a signature by this key proves *what was decided*.
 * Keys travel as PEM (PKCS #8 private, SPKI public) or as the raw 32-byte public key. Signing and
 * verification are `node:crypto`'s Ed25519 (RFC 8032: deterministic, so any control-plane replica signs
 * the same statement to the same bytes). A stolen private key is total: whoever holds it decides.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto"
import { Result, Schema } from "effect"

/** An Ed25519 signature: 64 bytes. */
export const Signature = Schema.Uint8Array.check(
  Schema.makeFilter((b: Uint8Array) => b.length === 64 || "an Ed25519 signature of exactly 64 bytes")
)
export type Signature = typeof Signature.Type

/** A key that could not be read: not PEM, not Ed25519, or the wrong half. */
export class InvalidAuthorityKey extends Schema.TaggedError<InvalidAuthorityKey>()("InvalidAuthorityKey", {
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid authority key: ${this.reason}; use the authority.pub / authority.key written by \`tq certs init\``
  }
}

// DER prefixes of an Ed25519 SubjectPublicKeyInfo and PKCS #8 PrivateKeyInfo (RFC 8410), before the 32 key bytes.
const spkiPrefix = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const pkcs8Prefix = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
])

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The public half: verifies signatures. */
export class PublicKey {
  /** The raw 32-byte Ed25519 public key. */
  readonly bytes: Uint8Array
  readonly #key: KeyObject

  private constructor(bytes: Uint8Array, key: KeyObject) {
    this.bytes = bytes
    this.#key = key
  }

  /** From the raw 32 bytes. */
  static fromBytes(bytes: Uint8Array): Result.Result<PublicKey, InvalidAuthorityKey> {
    if (bytes.length !== 32) {
      return Result.fail(new InvalidAuthorityKey({ reason: `a public key is 32 bytes, got ${bytes.length}` }))
    }
    return Result.try({
      try: () =>
        new PublicKey(
          Uint8Array.from(bytes),
          createPublicKey({ key: Buffer.from(concat(spkiPrefix, bytes)), format: "der", type: "spki" })
        ),
      catch: (e) => new InvalidAuthorityKey({ reason: describe(e) })
    })
  }

  /** From an SPKI PEM document (`authority.pub`). */
  static fromPem(pem: string): Result.Result<PublicKey, InvalidAuthorityKey> {
    return Result.try({
      try: () => createPublicKey({ key: pem, format: "pem" }),
      catch: (e) => new InvalidAuthorityKey({ reason: `not a PEM public key (${describe(e)})` })
    }).pipe(Result.flatMap(fromKeyObject))
  }

  /** Whether `signature` is this key's signature of `message`. Never throws. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 64) return false
    return verify(null, message, this.#key, signature)
  }

  toPem(): string {
    return String(this.#key.export({ format: "pem", type: "spki" }))
  }

  /** The first 8 bytes of the key in hex: enough to tell keys apart in logs and errors. */
  get fingerprint(): string {
    return Buffer.from(this.bytes.subarray(0, 8)).toString("hex")
  }
}

const fromKeyObject = (key: KeyObject): Result.Result<PublicKey, InvalidAuthorityKey> => {
  if (key.asymmetricKeyType !== "ed25519") {
    return Result.fail(new InvalidAuthorityKey({ reason: `expected an Ed25519 key, got ${key.asymmetricKeyType}` }))
  }
  const der = new Uint8Array(key.export({ format: "der", type: "spki" }))
  return PublicKey.fromBytes(der.subarray(der.length - 32))
}

/** The private half: signs. Held by the control plane only. */
export class SigningKey {
  readonly publicKey: PublicKey
  readonly #key: KeyObject

  private constructor(key: KeyObject, publicKey: PublicKey) {
    this.#key = key
    this.publicKey = publicKey
  }

  static #of(key: KeyObject): Result.Result<SigningKey, InvalidAuthorityKey> {
    if (key.asymmetricKeyType !== "ed25519") {
      return Result.fail(new InvalidAuthorityKey({ reason: `expected an Ed25519 key, got ${key.asymmetricKeyType}` }))
    }
    return Result.map(fromKeyObject(createPublicKey(key)), (pub) => new SigningKey(key, pub))
  }

  /** A fresh key pair from the OS CSPRNG. */
  static generate(): SigningKey {
    const { privateKey } = generateKeyPairSync("ed25519")
    return Result.getOrThrow(SigningKey.#of(privateKey))
  }

  /** The key whose RFC 8032 seed is these 32 bytes (deterministic keys for simulations and tests). */
  static fromSeed(seed: Uint8Array): Result.Result<SigningKey, InvalidAuthorityKey> {
    if (seed.length !== 32) {
      return Result.fail(new InvalidAuthorityKey({ reason: `a seed is 32 bytes, got ${seed.length}` }))
    }
    return Result.try({
      try: () => createPrivateKey({ key: Buffer.from(concat(pkcs8Prefix, seed)), format: "der", type: "pkcs8" }),
      catch: (e) => new InvalidAuthorityKey({ reason: describe(e) })
    }).pipe(Result.flatMap((key) => SigningKey.#of(key)))
  }

  /** From a PKCS #8 PEM document (`authority.key`). */
  static fromPem(pem: string): Result.Result<SigningKey, InvalidAuthorityKey> {
    return Result.try({
      try: () => createPrivateKey({ key: pem, format: "pem" }),
      catch: () => new InvalidAuthorityKey({ reason: "not a PEM private key" })
    }).pipe(Result.flatMap((key) => SigningKey.#of(key)))
  }

  sign(message: Uint8Array): Signature {
    return new Uint8Array(sign(null, message, this.#key))
  }

  toPem(): string {
    return String(this.#key.export({ format: "pem", type: "pkcs8" }))
  }

  /** Never prints the key. */
  toString(): string {
    return `SigningKey(<redacted>, public ${this.publicKey.fingerprint})`
  }

  toJSON(): string {
    return this.toString()
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}
