/**
 * A node's authority policy: the control plane's pinned public key and the named checks the protocol
 * applies to everything that would change what a node stores — who may send a `Prepare`, whose
 * signature a reconfiguration, commit, `CommitAdvance` or `Expunged` needs, which epochs are still
 * open, and the bounds of a configuration and a share.
 *
 * Each check has a name so the adversarial simulation can prove it is load-bearing: with one check
 * switched off (`unsafeSkip`, for mutation testing only) an invariant must fail. A running node always
 * enforces every check.
 */
import type { PublicKey } from "../crypto/AuthorityKey.ts"

/** The checks of the authority rules, by name. */
export const checks = [
  /** A `Prepare` arrives over a link authenticated as its configuration's coordinator. */
  "PrepareSender",
  /** A `Prepare`'s configuration carries a valid signed reconfiguration for its own fields. */
  "PrepareSignature",
  /** A `Prepare` is for an epoch above the latest committed one. */
  "PrepareEpoch",
  /** A `Prepare` equals the configuration already stored for its epoch, if any. */
  "PrepareConfiguration",
  /** A `Prepare`'s share is the receiver's: its x is the receiver's rank + 1 and it matches its digest. */
  "PrepareShare",
  /** A control-plane `Commit` or `PrepareAndCommit` (local or proxied) carries a valid commit signature. */
  "CommitProof",
  /** A peer's `CommitAdvance` carries a valid commit signature over its configuration. */
  "CommitAdvanceProof",
  /** A peer's `Expunged` carries a valid commit signature over its configuration. */
  "ExpungedProof",
  /** The configuration an `Expunged` proves really excludes the receiver. */
  "ExpungedExcludes",
  /** A share of an epoch not committed here is served only against that epoch's commit proof. */
  "GetShareProof",
  /** A received configuration has 3..32 members and a threshold of 2..31 below the member count. */
  "Bounds"
] as const
export type Check = (typeof checks)[number]

/** What the protocol consults before it stores, commits or expunges anything. */
export class Policy {
  readonly authority: PublicKey
  readonly #skipped: ReadonlySet<Check>

  constructor(authority: PublicKey, unsafeSkip: ReadonlySet<Check> = new Set()) {
    this.authority = authority
    this.#skipped = unsafeSkip
  }

  /** Whether `check` is applied (always, outside mutation tests). */
  enforces(check: Check): boolean {
    return !this.#skipped.has(check)
  }
}
