/**
 * The rack id: a UUID naming one trust-quorum group.
 *
 * Its 16 bytes in RFC 4122 (big-endian) order enter the key derivation of encrypted prior secrets,
 * so the textual form is normalised to lower case on decoding.
 */
import { Schema } from "effect"
import type { Rng } from "../gfss/Rng.ts"

/** A rack id, a canonical lower-case UUID string. */
export const RackId = Schema.String.check(Schema.isUUID())
export type RackId = typeof RackId.Type

/** The 16 bytes of a rack id. */
export const toBytes = (rackId: RackId): Uint8Array => {
  const hex = rackId.replaceAll("-", "")
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** A random (version 4) rack id drawn from `rng`. */
export const random = (rng: Rng): RackId => {
  const b = new Uint8Array(16)
  rng(b)
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
