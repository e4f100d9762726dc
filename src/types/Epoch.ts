/**
 * Epochs: the strictly increasing, never reused number of a configuration.
 *
 * An epoch is a non-negative safe integer (the original is a u64; 2^53 configurations is beyond
 * any rack's life). Epoch 0 is the "nothing committed" sentinel and is never a configuration's epoch.
 */
import { Schema } from "effect"

/** A configuration epoch. */
export const Epoch = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))
export type Epoch = typeof Epoch.Type

/** The epoch as 8 big-endian bytes (the u64 BE encoding used in key derivation and plaintext records). */
export const toU64Be = (epoch: Epoch): Uint8Array => {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch), false)
  return out
}
