/**
 * The rack secret: 32 random bytes per epoch that no single node stores.
 *
 * The bytes are private to the class; `toString`, `toJSON` and Node's `inspect` show a redacted form,
 * equality is constant-time, and `use` lends a copy that is zeroed afterwards. `fingerprint` is a
 * short, one-way label that is safe to print (examples show it to prove two nodes agree).
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Result, Schema } from "effect"
import * as Gfss from "../gfss/Gfss.ts"
import { type Rng, system } from "../gfss/Rng.ts"

/** The length of a rack secret in bytes. */
export const secretLength = 32

/** Reconstructed bytes were not a 32-byte secret. */
export class InvalidRackSecretSize extends Schema.TaggedError<InvalidRackSecretSize>()("InvalidRackSecretSize", {
  size: Schema.Number
}) {
  override get message(): string {
    return `a rack secret is ${secretLength} non-zero bytes, got ${this.size} bytes (or all zero)`
  }
}

export const RackSecretReconstructError = Schema.Union([...Gfss.CombineError.members, InvalidRackSecretSize])
export type RackSecretReconstructError = typeof RackSecretReconstructError.Type

const isAllZero = (bytes: Uint8Array): boolean => {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i] ?? 0
  return acc === 0
}

const redacted = "RackSecret(<redacted>)"

/** A 32-byte rack secret. */
export class RackSecret {
  readonly #bytes: Uint8Array

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  /** A fresh secret; redrawn while all-zero (a zero secret would derive a zero key). */
  static generate(rng: Rng = system): RackSecret {
    const bytes = new Uint8Array(secretLength)
    do rng(bytes)
    while (isAllZero(bytes))
    return new RackSecret(bytes)
  }

  /** A secret from 32 non-zero bytes (copied; the caller may zero its buffer). */
  static fromBytes(bytes: Uint8Array): Result.Result<RackSecret, InvalidRackSecretSize> {
    if (bytes.length !== secretLength || isAllZero(bytes)) {
      return Result.fail(new InvalidRackSecretSize({ size: bytes.length }))
    }
    return Result.succeed(new RackSecret(Uint8Array.from(bytes)))
  }

  /** Recombines a secret from shares. The caller must have validated the shares against their digests. */
  static reconstruct(shares: ReadonlyArray<Gfss.Share>): Result.Result<RackSecret, RackSecretReconstructError> {
    return Result.flatMap(Gfss.combine(shares), (bytes): Result.Result<RackSecret, RackSecretReconstructError> => {
      const secret = RackSecret.fromBytes(bytes)
      bytes.fill(0)
      return secret
    })
  }

  /** Splits this secret into `n` shares with threshold `k`. */
  split(n: number, k: number, rng: Rng = system): Result.Result<ReadonlyArray<Gfss.Share>, Gfss.SplitError> {
    return Gfss.split(this.#bytes, n, k, rng)
  }

  /** Constant-time equality. */
  equals(other: RackSecret): boolean {
    return timingSafeEqual(this.#bytes, other.#bytes)
  }

  /** 8 hex characters of SHA3-256("trust-quorum-v1-fingerprint" ‖ secret): safe to print, useless to an attacker. */
  fingerprint(): string {
    const hash = createHash("sha3-256")
    hash.update("trust-quorum-v1-fingerprint")
    hash.update(this.#bytes)
    return hash.digest("hex").slice(0, 8)
  }

  /** Runs `f` on a copy of the bytes, zeroing the copy afterwards. */
  use<A>(f: (bytes: Uint8Array) => A): A {
    const copy = Uint8Array.from(this.#bytes)
    try {
      return f(copy)
    } finally {
      copy.fill(0)
    }
  }

  /** Zeroes the secret; it must not be used afterwards. */
  dispose(): void {
    this.#bytes.fill(0)
  }

  toString(): string {
    return redacted
  }

  toJSON(): string {
    return redacted
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return redacted
  }
}
