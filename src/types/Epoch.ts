/**
 * Epochs: the strictly increasing, never reused number of a configuration.
 *
 * An epoch is an integer in 0..2^40 (the original is a u64). 2^40 reconfigurations, one a second, last
 * 34,000 years; the bound keeps `epoch + 1` exact, so no epoch a peer names can leave a node unable to
 * number its next configuration. Epoch 0 is the "nothing committed" sentinel and is never a
 * configuration's epoch.
 */
import { Schema } from "effect"

/** The largest epoch. */
export const maxEpoch = 2 ** 40

/** A configuration epoch. */
export const Epoch = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: maxEpoch }))
export type Epoch = typeof Epoch.Type

/** The epoch as 8 big-endian bytes (the u64 BE encoding used in key derivation and plaintext records). */
export const toU64Be = (epoch: Epoch): Uint8Array => {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch), false)
  return out
}
