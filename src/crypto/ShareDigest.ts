/**
 * The digest by which a configuration records each member's share: SHA3-256(x ‖ y).
 *
 * Digests are public (they sit in every configuration); they let any node check a share it receives
 * before using it, so a bad share never silently corrupts a reconstructed secret.
 */
import { createHash } from "node:crypto"
import type { Share } from "../gfss/Gfss.ts"

/** SHA3-256 over the x-coordinate byte followed by the y bytes. */
export const shareDigest = (share: Share): Uint8Array => {
  const hash = createHash("sha3-256")
  hash.update(Uint8Array.of(share.x & 0xff))
  hash.update(share.y)
  return new Uint8Array(hash.digest())
}
