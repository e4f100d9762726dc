/**
 * Deterministic control-plane authority keys for simulations and tests: the same label gives the same
 * Ed25519 key pair, so a seeded run (and its replay) signs byte for byte the same decisions. Never use
 * these keys for a real rack — anyone who knows the label holds the key; `tq certs init` makes real ones.
 */
import { createHash } from "node:crypto"
import { Result } from "effect"
import { SigningKey } from "../crypto/AuthorityKey.ts"

/** The authority key derived from `label`. */
export const fromLabel = (label: string): SigningKey =>
  Result.getOrThrow(
    SigningKey.fromSeed(new Uint8Array(createHash("sha256").update(`test authority/${label}`).digest()))
  )
