/**
 * Schemas for key shares and their SHA3-256 digests, the byte values that cross the wire and the ledger.
 *
 * A share is the `Gfss.Share` value (x-coordinate and 32 y bytes); its JSON form carries the bytes as
 * base64 (through `Schema.toCodecJson`). A share's bytes never appear in any message or log.
 */
import { Schema } from "effect"
import type * as Gfss from "../gfss/Gfss.ts"

const bytesOfLength = (n: number) =>
  Schema.Uint8Array.check(Schema.makeFilter((b: Uint8Array) => b.length === n || `exactly ${n} bytes`))

/** A SHA3-256 digest: 32 bytes. */
export const Sha3Digest = bytesOfLength(32)

/** A 32-byte random salt. */
export const Salt = bytesOfLength(32)

/** A key share of a rack secret: x in 1..255 and exactly 32 y bytes (a longer "share" is refused on decoding). */
export const Share = Schema.Struct({
  x: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 255 })),
  y: bytesOfLength(32)
})
export type Share = Gfss.Share

/** Constant-time-free digest equality (digests are public). */
export const digestEquals = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
