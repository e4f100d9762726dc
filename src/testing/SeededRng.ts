/**
 * A deterministic random-byte generator for tests and the simulator — never for production secrets.
 *
 * The stream is the ChaCha20 keystream under SHA-256(seed), so one seed reproduces a whole run byte
 * for byte, and different seeds give independent-looking streams.
 */
import { createCipheriv, createHash } from "node:crypto"
import type { Rng } from "../gfss/Rng.ts"

/** A seeded Rng: the same seed yields the same bytes. */
export const seeded = (seed: number | string): Rng => {
  const key = createHash("sha256")
    .update(`effect-trust-quorum/seeded/${String(seed)}`)
    .digest()
  const cipher = createCipheriv("chacha20", key, new Uint8Array(16))
  return (target) => {
    const stream = cipher.update(new Uint8Array(target.length))
    target.set(stream)
  }
}
